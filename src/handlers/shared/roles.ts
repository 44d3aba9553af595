/**
 * The roles the handlers act on. Reads need any authenticated caller of the tenant (`reader` names
 * a caller that only reads); writes need `owner` (their own datasets) or `platform` (any).
 */
export const READER = 'reader';
export const OWNER = 'owner';
export const PLATFORM = 'platform';

export const KNOWN_ROLES: readonly string[] = [READER, OWNER, PLATFORM];
