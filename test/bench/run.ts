/**
 * `npm run bench`: benchmarks measure Slipway on the local stack as ratios against floors measured
 * in the same run. None exist yet; they arrive once the release flow and the agents do.
 */
console.log("slipway bench: no benchmarks yet (they measure the release flow, which has not landed)");
