/*
 * The callback forms of fs with plain descriptors, promisified by hand: each fs/promises
 * FileHandle call costs the event loop about a third more, and a batch makes a dozen such calls
 * per blob.
 */
import fs from 'node:fs';

export function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

export function openFd(file: string, flags: string): Promise<number> {
  return new Promise((resolve, reject) => fs.open(file, flags, 0o666, (err, fd) => (err ? reject(err) : resolve(fd))));
}

/**
 * Files are created one at a time, in the process, not as many at once as the thread pool
 * runs. A creation takes the directory's lock while ext4 looks for a free inode, and without a
 * journal it passes over inodes freed in the last seconds to minutes, looking each one up
 * (`recently_deleted`): after other files were deleted nearby, one creation costs up to a
 * millisecond, and the pool's other threads spin on the lock meanwhile (`rwsem_spin_on_owner`,
 * a tenth of all CPU samples of a sync in `perf`). One at a time, the writes and fsyncs of other
 * blobs still run in parallel; the sync used 2 s less CPU (docs/benchmarks.md, "Third round").
 */
let creating: Promise<unknown> = Promise.resolve();
export function createFd(file: string, flags: 'w' | 'wx' = 'w'): Promise<number> {
  const next = creating.then(() => openFd(file, flags));
  creating = next.catch(() => undefined);
  return next;
}

export function closeFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.close(fd, (err) => (err ? reject(err) : resolve())));
}

/** fdatasync for a file's data, fsync for a directory (whose entries are its "data"). */
export function syncFd(fd: number, directory: boolean): Promise<void> {
  return new Promise((resolve, reject) => (directory ? fs.fsync : fs.fdatasync)(fd, (err) => (err ? reject(err) : resolve())));
}

/** Makes a directory's entries (files created or renamed into it) durable. */
export async function syncDir(dir: string): Promise<void> {
  const fd = await openFd(dir, 'r');
  try {
    await syncFd(fd, true);
  } finally {
    await closeFd(fd);
  }
}

/** Up to `length` bytes at `position` (fewer at the end of the file). */
export function readAt(fd: number, length: number, position: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  return new Promise((resolve, reject) => fs.read(fd, buf, 0, length, position, (err, n) => (err ? reject(err) : resolve(buf.subarray(0, n)))));
}

/** Writes all of `buffers` at `position`, going on after short writes; returns the byte count. */
export async function writeAll(fd: number, buffers: Buffer[], position: number): Promise<number> {
  let written = 0;
  let rest = buffers;
  const total = buffers.reduce((n, b) => n + b.length, 0);
  while (written < total) {
    const n = await new Promise<number>((resolve, reject) => fs.writev(fd, rest, position + written, (err, bytes) => (err ? reject(err) : resolve(bytes))));
    written += n;
    if (written < total) {
      let skip = n;
      const left: Buffer[] = [];
      for (const b of rest) {
        if (skip >= b.length) skip -= b.length;
        else {
          left.push(skip > 0 ? b.subarray(skip) : b);
          skip = 0;
        }
      }
      rest = left;
    }
  }
  return total;
}
