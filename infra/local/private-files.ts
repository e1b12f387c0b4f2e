import {
  appendFileSync,
  chmodSync,
  closeSync,
  fchmodSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";

/**
 * The local stack's data folder holds the whole event log, queued messages and the secrets: only
 * the user who runs it may read it. Folders are 0700 and files 0600 whatever the process umask
 * (which can only take bits away, so each mode is also set explicitly).
 */
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/**
 * Makes `path` and any missing parent as folders only their owner can open. A folder that exists
 * already keeps its mode: it may be one the caller does not own (the stack narrows its data folder
 * with `tightenPrivateTree`).
 */
export function makePrivateDir(path: string): void {
  const created = mkdirSync(path, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (created === undefined) return;
  const first = resolve(created);
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    chmodSync(dir, PRIVATE_DIR_MODE);
    if (dir === first || dir === dirname(dir)) break;
  }
}

/**
 * Writes `data` to `path`, created or replaced, readable by its owner only. The mode is set before
 * anything is written, also on a file that already existed with a wider one.
 */
export function writePrivateFile(path: string, data: string): void {
  const fd = openSync(path, "w", PRIVATE_FILE_MODE);
  try {
    fchmodSync(fd, PRIVATE_FILE_MODE);
    writeFileSync(fd, data);
  } finally {
    closeSync(fd);
  }
}

/** Appends `data` to `path`; a file it creates is readable by its owner only. */
export function appendPrivateFile(path: string, data: string): void {
  appendFileSync(path, data, { mode: PRIVATE_FILE_MODE });
}

/**
 * Narrows everything under `root` (and `root` itself) to 0700 folders and 0600 files: a data folder
 * left by an older run, or a file another process (DynamoDB Local) made with its own umask.
 * Symbolic links are left alone — chmod would change what they point at, which may be outside.
 */
export function tightenPrivateTree(root: string): void {
  const stat = lstatSync(root, { throwIfNoEntry: false });
  if (!stat || stat.isSymbolicLink()) return;
  if (stat.isDirectory()) {
    if ((stat.mode & 0o777) !== PRIVATE_DIR_MODE) chmodIfThere(root, PRIVATE_DIR_MODE);
    for (const name of readdirSync(root)) tightenPrivateTree(join(root, name));
  } else if (stat.isFile() && (stat.mode & 0o777) !== PRIVATE_FILE_MODE) {
    chmodIfThere(root, PRIVATE_FILE_MODE);
  }
}

/** A running DynamoDB Local makes and removes journal files: one gone by now needs no mode. */
function chmodIfThere(path: string, mode: number): void {
  try {
    chmodSync(path, mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
}
