/**
 * `coffer/policy`: who may read which secret file, as the two rule files people keep
 * beside their secrets say it (docs/library.md "coffer/policy"): `.sops.yaml` creation
 * rules (docs/formats/sops.md ".sops.yaml"), found and matched as sops does, and agenix's
 * `secrets.nix` (docs/agenix.md); plus the plan of what a file's keys should become
 * (`planKeyUpdate`, what `updatekeys` shows before it asks).
 *
 * Only what is re-exported here is public; the modules behind it may change.
 *
 * ```ts
 * import { matchCreationRule, parseSopsConfig } from "coffer/policy"
 * const config = parseSopsConfig(await readFile(".sops.yaml", "utf8"), "/repo/.sops.yaml")
 * const { rule } = matchCreationRule(config, "secrets/prod.yaml", "/repo")
 * ```
 */

// .sops.yaml
export { CONFIG_FILE_NAME, locateSopsConfig, parseSopsConfig } from "../policy/config.js"
export type {
  ConfigLocation,
  ConfigLookup,
  ConfigLookupIo,
  ConfigParseOptions,
  CreationRule,
  SopsConfig,
  StoreSettings,
  StoresConfig,
} from "../policy/config.js"
export { compileGoRegex, matchCreationRule } from "../policy/match.js"
export type { RuleMatch } from "../policy/match.js"
export { describeKeyUpdate, keysOfGroup, planKeyUpdate } from "../policy/plan.js"
export type { GroupChange, KeyUpdatePlan, MasterKeyRef } from "../policy/plan.js"
export type { KeyGroupRecipients } from "../sops/data-key.js"
export type { KeyGroup } from "../sops/metadata.js"

// secrets.nix
export {
  DEFAULT_RULES_FILE,
  chooseRulesFile,
  findAgenixRule,
  loadAgenixRules,
  parseAgenixRules,
  systemRulesIo,
} from "../agenix/rules.js"
export type { AgenixRule, AgenixRules, RulesIo } from "../agenix/rules.js"

// errors (all extend ToolError)
export {
  ConfigError,
  ConfigNotFoundError,
  NoMatchingRuleError,
  PathRegexError,
  UnknownConfigKeyError,
} from "../policy/errors.js"
export { AgenixRulesError, NixNotFoundError, NoAgenixRuleError } from "../agenix/errors.js"
export { InternalError, ToolError } from "../internal/errors.js"
