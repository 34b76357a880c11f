import * as fs from 'fs';

/** The largest input file read: cluster files, keys and flake.lock files are a few KiB. */
export const MAX_INPUT_FILE_BYTES = 1024 * 1024;

/** Why an input file was not read; `rule` completes "<field>: ..." and never holds the file's content. */
export class InputFileError extends Error {
  constructor(public readonly rule: string) {
    super(rule);
    this.name = 'InputFileError';
  }
}

/**
 * Reads a file given by the user as UTF-8 text, refusing anything but a regular file of at most
 * `maxBytes`. The file is opened without blocking (a FIFO would otherwise wait for a writer forever)
 * and checked on the open descriptor, so a symlink to a device or a file swapped after a check is
 * refused too. The size is checked before reading, and never more than `maxBytes + 1` bytes are read.
 */
export function readInputFile(file: string, maxBytes = MAX_INPUT_FILE_BYTES): string {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  } catch (e) {
    throw new InputFileError(`must be a readable regular file (${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw new InputFileError(`must be a regular file (found ${kindOf(stat)})`);
    if (stat.size > maxBytes) throw new InputFileError(`must be at most ${formatBytes(maxBytes)} (found ${stat.size} bytes)`);
    // The size may change between fstat and read: read at most one byte more than allowed to tell.
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (let n = -1; n !== 0 && length < buffer.length; length += n) n = fs.readSync(fd, buffer, length, buffer.length - length, null);
    if (length > maxBytes) throw new InputFileError(`must be at most ${formatBytes(maxBytes)}`);
    return buffer.subarray(0, length).toString('utf8');
  } catch (e) {
    if (e instanceof InputFileError) throw e;
    throw new InputFileError(`must be a readable regular file (${(e as NodeJS.ErrnoException).code ?? 'read error'})`);
  } finally {
    fs.closeSync(fd);
  }
}

function kindOf(stat: fs.Stats): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isSocket()) return 'a socket';
  return 'not a regular file';
}

const formatBytes = (n: number): string => (n % (1024 * 1024) === 0 ? `${n / (1024 * 1024)} MiB` : `${n} bytes`);
