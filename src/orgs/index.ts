export { createOrgsService, DEFAULT_ORG, type OrgsService } from './service.ts';
export type { Principal, Role, UserView, OrgView } from './types.ts';
export {
  createPasswordReset,
  PASSWORD_RESET_UNAVAILABLE,
  RESET_ACCEPTED,
  type PasswordReset,
  type PasswordResetDeps,
  type PasswordResetOptions,
  type RateLimit,
  type ResetAccepted,
  type ResetMailer,
} from './password-reset.ts';
