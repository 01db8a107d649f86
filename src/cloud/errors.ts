/**
 * One error class per way a cloud master key fails that people must tell apart
 * (docs/formats/sops-cloud-keys.md "Errors"): no credentials (and where they were looked
 * for), access denied, the key disabled or not usable, the key not found, a ciphertext the
 * key does not open, and the service unreachable or failing otherwise. Every message names
 * the key (`kms arn:aws:kms:…`); none holds a data key or a credential.
 */
import { MasterKeyError } from "../sops/errors.js"

/** A cloud key could not be used; the subclass says why. */
export class CloudKeyError extends MasterKeyError {}

/** No credentials were found for the key's cloud; the hints say where coffer looked. */
export class CloudCredentialsError extends CloudKeyError {}

/** The cloud refused the credentials or the operation on this key (IAM, policy, token). */
export class CloudAccessDeniedError extends CloudKeyError {}

/** The key exists but is disabled, pending deletion or otherwise not usable now. */
export class CloudKeyDisabledError extends CloudKeyError {}

/** The cloud has no such key (wrong ARN, resource, name or region). */
export class CloudKeyNotFoundError extends CloudKeyError {}

/**
 * The key did not open the ciphertext: the `enc` belongs to another key, was damaged, or
 * (AWS) the encryption context differs.
 */
export class CloudCiphertextError extends CloudKeyError {}

/** The service could not be reached, or failed in a way not listed above. */
export class CloudServiceError extends CloudKeyError {}
