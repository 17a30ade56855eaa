// Helpers for tests that drive tollgate through the official @unkey/api SDK.

import * as errors from '@unkey/api/models/errors';

/**
 * Runs one SDK call; on failure, rethrows with what the server answered (the status, the body,
 * and where its response breaks the Unkey schema) so a report can quote it.
 */
export async function sdk(what, fn) {
  try {
    return await fn();
  } catch (error) {
    let details = `${what} threw ${error?.name}: ${error?.message}`;
    if (error instanceof errors.ResponseValidationError) {
      details += `\n  the server's response does not match the Unkey schema:\n  ${error.pretty()}` +
        `\n  raw value: ${JSON.stringify(error.rawValue)}`;
    }
    if (error instanceof errors.UnkeyError) {
      details += `\n  HTTP ${error.statusCode} ${error.contentType}\n  body: ${error.body}`;
    }
    throw new Error(details, { cause: error });
  }
}
