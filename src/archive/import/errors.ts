import { AppError } from '../../errors/index.ts';

/** Why a path could not be read, in words a user can act on. */
function describe(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'it does not exist';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied; check that the user running mailroom may read it';
    case 'ENOTDIR':
      return 'a part of the path is not a directory';
    case 'ELOOP':
      return 'it is a symbolic link loop';
    case 'EISDIR':
      return 'it is a directory where a file was expected';
    case 'EMFILE':
    case 'ENFILE':
      return 'too many open files; raise the open-file limit (ulimit -n)';
    case 'EIO':
      return 'an I/O error occurred on the disk';
    default:
      return code ? `${code}: ${(err as Error).message}` : String((err as Error | undefined)?.message ?? err);
  }
}

export function sourceError(path: string, what: string, cause?: unknown): AppError {
  return new AppError('IMPORT_SOURCE_INVALID', `Cannot import from ${path}: ${what}.`, cause === undefined ? {} : { cause });
}

export function ioError(path: string, err: unknown): AppError {
  return sourceError(path, describe(err), err);
}
