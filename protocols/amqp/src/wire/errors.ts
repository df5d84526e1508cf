import type { ErrorCode } from '@junction/core';

/** A malformed frame or argument. `code` says how the connection must be closed. */
export class CodecError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'CodecError';
  }
}

export const isCodecError = (e: unknown): e is CodecError => e instanceof CodecError;

export const syntaxError = (what: string): CodecError =>
  new CodecError('SYNTAX_ERROR', `SYNTAX_ERROR - ${what}`);
export const frameError = (what: string): CodecError =>
  new CodecError('FRAME_ERROR', `FRAME_ERROR - ${what}`);
