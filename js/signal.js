// Forwards an abort from the caller's signal to the manager's own controller (which also
// carries the request timeout). Used instead of AbortSignal.any, which Safari < 17.4,
// Firefox < 124 and Chrome < 116 lack. Returns the function that stops forwarding.
export function follow(from, to) {
  const forward = () => to.abort(from.reason);
  if (from.aborted) forward();
  else from.addEventListener('abort', forward);
  return () => from.removeEventListener('abort', forward);
}
