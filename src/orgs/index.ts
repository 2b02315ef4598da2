export { createOrgsService, DEFAULT_ORG, type OrgsService } from './service.ts';
export type { Principal, Role, UserView, OrgView } from './types.ts';
