// installGlobal(): the functions server-rendered templates call as globals, bound to one
// manager. A second call stops the previous manager, so a template can re-install safely.
const GLOBALS = ['fetchWithAuth', 'triggerSessionRecoveryCheck', 'updateCredits', 'waitForAuthStability'];

export function install(manager) {
  const previous = globalThis.sessionKeeper;
  if (previous && previous !== manager) previous.stop();
  globalThis.sessionKeeper = manager;
  for (const name of GLOBALS) globalThis[name] = manager[name].bind(manager);
  // Module scripts load asynchronously: templates can wait for this instead of polling.
  globalThis.dispatchEvent?.(new CustomEvent('session-keeper-ready', { detail: manager }));
}
