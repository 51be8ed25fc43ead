// Compiled with `tsc --noEmit` against the generated declarations (make test-types). Each
// `@ts-expect-error` line must stay an error: if a type degrades to `any`, tsc reports the
// directive as unused and the check fails.
import init, {
  SessionManager,
  SessionError,
  installGlobal,
  clerkTokenProvider,
  supabaseTokenProvider,
  type ClerkLike,
  type RecoveryOutcome,
  type SessionConfig,
  type SessionErrorCode,
  type TokenProvider,
} from 'session-keeper';
import { createClient } from '@supabase/supabase-js';

await init();

// The real supabase-js client satisfies SupabaseClientLike.
const supabase = createClient('https://example.supabase.co', 'anon-key');
const manager = new SessionManager({ ...supabaseTokenProvider(supabase), loginUrl: '/login' });
manager.start();

// A Clerk-shaped object (the shape of @clerk/clerk-js's Clerk, which is not installed here).
declare const clerk: ClerkLike;
const fromClerk: TokenProvider = clerkTokenProvider(clerk);
new SessionManager({ ...fromClerk, allowedOrigins: ['https://api.example.com'], logLevel: 'info' });

const config: SessionConfig = {
  getToken: async ({ forceRefresh, reason }) => (forceRefresh && reason === 'unauthorized' ? 'fresh' : null),
  checkSession: () => true,
  credits: { maxRetries: 3 },
  endpoints: { credits: '/auth/credits' },
};
const global: SessionManager = installGlobal(config);
const fetched: Promise<Response> | undefined = window.fetchWithAuth?.('/api/data');

const response: Response = await manager.fetchWithAuth('/api/data', { method: 'POST', body: '{}' });
const token: string = await manager.refreshToken();
const credits: number = await manager.updateCredits({ forceRefresh: true });
const stable: boolean = await manager.waitForAuthStability({ maxWaitMs: 5000 });
const outcome: RecoveryOutcome = await manager.triggerSessionRecoveryCheck('visible');
const expires: number | null = manager.tokenExpiresAt;
const authenticated: boolean = manager.isAuthenticated;

const off: () => void = manager.on('stateChanged', ({ authenticated, expiresAt }) => {
  const a: boolean = authenticated;
  const e: number | null = expiresAt;
});
manager.on('recovered', ({ unhealthy }) => unhealthy.includes('verify'));
manager.on('refreshFailed', ({ code }) => {
  const c: SessionErrorCode = code;
});
window.addEventListener('auth-recovered', (event) => event.detail.trigger.toUpperCase());

try {
  await manager.fetchWithAuth('/api/data');
} catch (error) {
  if (error instanceof SessionError) {
    const code: SessionErrorCode = error.code;
  }
}

// ----- what must not compile -----
// @ts-expect-error getToken is required
new SessionManager({ loginUrl: '/login' });
// @ts-expect-error refreshIntervalMs is a number
new SessionManager({ ...config, refreshIntervalMs: '50s' });
// @ts-expect-error unknown event name
manager.on('tokenRefresh', () => {});
// @ts-expect-error stateChanged's detail has no credits
manager.on('stateChanged', ({ credits }) => credits);
// @ts-expect-error fetchWithAuth resolves with a Response, not a string
const notText: string = await manager.fetchWithAuth('/api/data');
// @ts-expect-error the error codes are a closed set
const badCode: SessionErrorCode = 'oops';
// @ts-expect-error a Supabase client is needed, not its URL
supabaseTokenProvider('https://example.supabase.co');
// @ts-expect-error the outcome's reason is a closed set
const reason: 'timeout' = outcome.reason;

export { response, token, credits, stable, expires, authenticated, off, global, fetched, notText, badCode, reason };
