#!/usr/bin/env node
// Runs the TypeScript agent through tsx, so `npx slipway-agent` works from a checkout.
import { register } from "tsx/esm/api";
register();
await import("./main.ts");
