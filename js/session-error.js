// The error class session-keeper throws and rejects with. Branch on `code`, never on
// `message`: codes are stable, messages are for people.
export class SessionError extends Error {
  constructor(code, message, cause) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'SessionError';
    this.code = code;
  }
}
