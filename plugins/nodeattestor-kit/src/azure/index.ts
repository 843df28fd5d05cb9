/** Azure Resource Manager access for the azure_msi and azure_imds server attestors. */
export { AzureError, requestJson, describeErrorBody, checkBaseUrl, checkMetadataUrl, configuredUrl, DEFAULT_TIMEOUT_MS, DEFAULT_MAX_RESPONSE_BYTES } from './http.js';
export type { HttpOptions, JsonRequest } from './http.js';
export {
  ClientSecretCredential,
  ClientAssertionCredential,
  ManagedIdentityCredential,
  defaultAzureCredential,
  fetchInstanceCompute,
  RESOURCE_MANAGER_SCOPE,
  RESOURCE_MANAGER_RESOURCE,
  DEFAULT_AUTHORITY_HOST,
  DEFAULT_IMDS_ENDPOINT,
  REFRESH_MARGIN_MS,
} from './credentials.js';
export type { AccessToken, TokenCredential, TenantSource, CredentialOptions, DefaultCredentialOptions } from './credentials.js';
export {
  ArmClient,
  DEFAULT_RESOURCE_MANAGER_URL,
  API_VERSIONS,
  MAX_PAGES,
  parseVirtualMachineId,
  parseNetworkInterfaceId,
  parseNetworkSecurityGroupId,
  parseSubnetId,
  odataQuote,
} from './arm.js';
export type { ResourceName, SubnetName, ResourceGraphResult } from './arm.js';
