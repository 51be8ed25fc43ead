// What a dashboard using Supabase's auth client directly ships (size only: it is not a fetch wrapper).
export { AuthClient } from '@supabase/auth-js';
