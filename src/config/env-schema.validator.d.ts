// Generated at build time by scripts/gen-env-validator.mjs (ajv standalone code).
declare const validate: (data: unknown) => boolean;
export default validate;
