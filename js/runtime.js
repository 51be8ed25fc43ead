// The small runtime pieces session-keeper needs from JavaScript, in one module (each
// separate snippet file is one more request when a page loads the package).

// The error class session-keeper throws and rejects with. Branch on `code`, never on
// `message`: codes are stable, messages are for people.
export class SessionError extends Error {
  constructor(code, message, cause) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'SessionError';
    this.code = code;
  }
}

// Forwards an abort from the caller's signal to the manager's own controller (which also
// carries the request timeout). Used instead of AbortSignal.any, which Safari < 17.4,
// Firefox < 124 and Chrome < 116 lack. Returns the function that stops forwarding.
export function follow(from, to) {
  const forward = () => to.abort(from.reason);
  if (from.aborted) forward();
  else from.addEventListener('abort', forward);
  return () => from.removeEventListener('abort', forward);
}
