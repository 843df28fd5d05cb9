// Checks that the .proto tree under proto/ has the same wire shape as the
// upstream definitions: every service (full name, RPCs, message types and
// streaming flags) and a sample of messages and enums (field names, numbers,
// types). The tables were written from these upstream snapshots:
//   spiffe/go-spiffe           e9973f6314a3fa0e36eb1f00fbfe37bdc1554b96 (workload.proto)
//   spiffe/spiffe              665a28f3253ecdce59f26f3ef29c0d6408b37c3d (brokerapi.proto)
//   spiffe/spire-api-sdk       adb81b3b0fb87a881693d1d42eaf8b2fa1223e42
//   spiffe/spire-plugin-sdk    13afea28804d56ddada4e9bfec4d5f56306ac1cb
//   hashicorp/go-plugin        dd3617ad0257b2e8fe63d5afe805b16a146c3ab9
//   envoyproxy/data-plane-api  84e84367f2560cdb47b9bb78fd3e615feb80c3e4 (subset)
//   googleapis/googleapis      f8291d2b89f0017ab078a4c7378069bae5686f6f (google.rpc.Status)
// plus the standard grpc.health.v1 service.
import { createRequire } from 'node:module';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type * as Protobuf from 'protobufjs';
import { isServiceName, serviceDefinition, serviceFiles } from '@spire-ts/proto';

const require = createRequire(import.meta.url);
const protobuf = require('protobufjs') as typeof Protobuf;

/** [request type, response type, client streaming, server streaming] */
type Rpc = readonly [request: string, response: string, clientStreaming: boolean, serverStreaming: boolean];

const PROTO_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
const SKIP = new Set(['node_modules', 'src', 'dist', 'scripts', 'test']);
/** Packages other teams own; loaded, but not in our tables. */
const FOREIGN = /^spire_ts\./;

function protoFiles(dir: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name)) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) found.push(...protoFiles(p));
    else if (name.endsWith('.proto')) found.push(relative(PROTO_DIR, p));
  }
  return found.sort();
}

function loadRoot(): Protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (target.startsWith('google/protobuf/') ? target : join(PROTO_DIR, target));
  root.loadSync(protoFiles(PROTO_DIR), { keepCase: true });
  root.resolveAll();
  return root;
}

const name = (full: string): string => full.replace(/^\./, '');

/** One field as a line of .proto-like text, with the type fully qualified. */
function fieldLine(field: Protobuf.Field): string {
  const type = field.resolvedType ? name(field.resolvedType.fullName) : field.type;
  const optional = field.options?.['proto3_optional'] === true;
  const oneof = field.partOf && !optional ? `[oneof ${field.partOf.name}] ` : '';
  let kind = (field.repeated ? 'repeated ' : '') + type;
  if (field instanceof protobuf.MapField) kind = `map<${field.keyType}, ${type}>`;
  return `${oneof}${optional ? 'optional ' : ''}${kind} ${field.name} = ${field.id}`;
}

const byNumber = (lines: readonly string[]): string[] =>
  [...lines].sort((a, b) => Number(/= (-?\d+)$/.exec(a)?.[1]) - Number(/= (-?\d+)$/.exec(b)?.[1]));

function allServices(ns: Protobuf.Namespace, out: Protobuf.Service[] = []): Protobuf.Service[] {
  for (const child of ns.nestedArray) {
    if (child instanceof protobuf.Service) out.push(child);
    else if (child instanceof protobuf.Namespace) allServices(child, out);
  }
  return out;
}

// Tables from upstream (Envoy: the fields we keep).
const SERVICES: Record<string, Record<string, Rpc>> = {
  'SpiffeWorkloadAPI': {
    FetchX509SVID: ['X509SVIDRequest', 'X509SVIDResponse', false, true],
    FetchX509Bundles: ['X509BundlesRequest', 'X509BundlesResponse', false, true],
    FetchJWTSVID: ['JWTSVIDRequest', 'JWTSVIDResponse', false, false],
    FetchJWTBundles: ['JWTBundlesRequest', 'JWTBundlesResponse', false, true],
    ValidateJWTSVID: ['ValidateJWTSVIDRequest', 'ValidateJWTSVIDResponse', false, false],
    FetchWITSVID: ['WITSVIDRequest', 'WITSVIDResponse', false, true],
    FetchWITBundles: ['WITBundlesRequest', 'WITBundlesResponse', false, true],
  },
  'envoy.service.secret.v3.SecretDiscoveryService': {
    DeltaSecrets: ['envoy.service.discovery.v3.DeltaDiscoveryRequest', 'envoy.service.discovery.v3.DeltaDiscoveryResponse', true, true],
    StreamSecrets: ['envoy.service.discovery.v3.DiscoveryRequest', 'envoy.service.discovery.v3.DiscoveryResponse', true, true],
    FetchSecrets: ['envoy.service.discovery.v3.DiscoveryRequest', 'envoy.service.discovery.v3.DiscoveryResponse', false, false],
  },
  'grpc.health.v1.Health': {
    Check: ['grpc.health.v1.HealthCheckRequest', 'grpc.health.v1.HealthCheckResponse', false, false],
    List: ['grpc.health.v1.HealthListRequest', 'grpc.health.v1.HealthListResponse', false, false],
    Watch: ['grpc.health.v1.HealthCheckRequest', 'grpc.health.v1.HealthCheckResponse', false, true],
  },
  'plugin.GRPCBroker': {
    StartStream: ['plugin.ConnInfo', 'plugin.ConnInfo', true, true],
  },
  'plugin.GRPCController': {
    Shutdown: ['plugin.Empty', 'plugin.Empty', false, false],
  },
  'plugin.GRPCStdio': {
    StreamStdio: ['google.protobuf.Empty', 'plugin.StdioData', false, true],
  },
  'spiffe.broker.API': {
    SubscribeToX509SVID: ['spiffe.broker.SubscribeToX509SVIDRequest', 'spiffe.broker.SubscribeToX509SVIDResponse', false, true],
    SubscribeToX509Bundles: ['spiffe.broker.SubscribeToX509BundlesRequest', 'spiffe.broker.SubscribeToX509BundlesResponse', false, true],
    FetchJWTSVID: ['spiffe.broker.FetchJWTSVIDRequest', 'spiffe.broker.FetchJWTSVIDResponse', false, false],
    SubscribeToJWTBundles: ['spiffe.broker.SubscribeToJWTBundlesRequest', 'spiffe.broker.SubscribeToJWTBundlesResponse', false, true],
  },
  'spire.agent.debug.v1.Debug': {
    GetInfo: ['spire.agent.debug.v1.GetInfoRequest', 'spire.agent.debug.v1.GetInfoResponse', false, false],
  },
  'spire.api.agent.delegatedidentity.v1.DelegatedIdentity': {
    SubscribeToX509SVIDs: ['spire.api.agent.delegatedidentity.v1.SubscribeToX509SVIDsRequest', 'spire.api.agent.delegatedidentity.v1.SubscribeToX509SVIDsResponse', false, true],
    SubscribeToX509Bundles: ['spire.api.agent.delegatedidentity.v1.SubscribeToX509BundlesRequest', 'spire.api.agent.delegatedidentity.v1.SubscribeToX509BundlesResponse', false, true],
    FetchJWTSVIDs: ['spire.api.agent.delegatedidentity.v1.FetchJWTSVIDsRequest', 'spire.api.agent.delegatedidentity.v1.FetchJWTSVIDsResponse', false, false],
    SubscribeToJWTBundles: ['spire.api.agent.delegatedidentity.v1.SubscribeToJWTBundlesRequest', 'spire.api.agent.delegatedidentity.v1.SubscribeToJWTBundlesResponse', false, true],
  },
  'spire.api.agent.logger.v1.Logger': {
    GetLogger: ['spire.api.agent.logger.v1.GetLoggerRequest', 'spire.api.types.Logger', false, false],
    SetLogLevel: ['spire.api.agent.logger.v1.SetLogLevelRequest', 'spire.api.types.Logger', false, false],
    ResetLogLevel: ['spire.api.agent.logger.v1.ResetLogLevelRequest', 'spire.api.types.Logger', false, false],
  },
  'spire.api.server.agent.v1.Agent': {
    CountAgents: ['spire.api.server.agent.v1.CountAgentsRequest', 'spire.api.server.agent.v1.CountAgentsResponse', false, false],
    ListAgents: ['spire.api.server.agent.v1.ListAgentsRequest', 'spire.api.server.agent.v1.ListAgentsResponse', false, false],
    GetAgent: ['spire.api.server.agent.v1.GetAgentRequest', 'spire.api.types.Agent', false, false],
    DeleteAgent: ['spire.api.server.agent.v1.DeleteAgentRequest', 'google.protobuf.Empty', false, false],
    BanAgent: ['spire.api.server.agent.v1.BanAgentRequest', 'google.protobuf.Empty', false, false],
    AttestAgent: ['spire.api.server.agent.v1.AttestAgentRequest', 'spire.api.server.agent.v1.AttestAgentResponse', true, true],
    RenewAgent: ['spire.api.server.agent.v1.RenewAgentRequest', 'spire.api.server.agent.v1.RenewAgentResponse', false, false],
    CreateJoinToken: ['spire.api.server.agent.v1.CreateJoinTokenRequest', 'spire.api.types.JoinToken', false, false],
    PostStatus: ['spire.api.server.agent.v1.PostStatusRequest', 'spire.api.server.agent.v1.PostStatusResponse', false, false],
  },
  'spire.api.server.bundle.v1.Bundle': {
    CountBundles: ['spire.api.server.bundle.v1.CountBundlesRequest', 'spire.api.server.bundle.v1.CountBundlesResponse', false, false],
    GetBundle: ['spire.api.server.bundle.v1.GetBundleRequest', 'spire.api.types.Bundle', false, false],
    AppendBundle: ['spire.api.server.bundle.v1.AppendBundleRequest', 'spire.api.types.Bundle', false, false],
    PublishJWTAuthority: ['spire.api.server.bundle.v1.PublishJWTAuthorityRequest', 'spire.api.server.bundle.v1.PublishJWTAuthorityResponse', false, false],
    PublishWITAuthority: ['spire.api.server.bundle.v1.PublishWITAuthorityRequest', 'spire.api.server.bundle.v1.PublishWITAuthorityResponse', false, false],
    ListFederatedBundles: ['spire.api.server.bundle.v1.ListFederatedBundlesRequest', 'spire.api.server.bundle.v1.ListFederatedBundlesResponse', false, false],
    GetFederatedBundle: ['spire.api.server.bundle.v1.GetFederatedBundleRequest', 'spire.api.types.Bundle', false, false],
    BatchCreateFederatedBundle: ['spire.api.server.bundle.v1.BatchCreateFederatedBundleRequest', 'spire.api.server.bundle.v1.BatchCreateFederatedBundleResponse', false, false],
    BatchUpdateFederatedBundle: ['spire.api.server.bundle.v1.BatchUpdateFederatedBundleRequest', 'spire.api.server.bundle.v1.BatchUpdateFederatedBundleResponse', false, false],
    BatchSetFederatedBundle: ['spire.api.server.bundle.v1.BatchSetFederatedBundleRequest', 'spire.api.server.bundle.v1.BatchSetFederatedBundleResponse', false, false],
    BatchDeleteFederatedBundle: ['spire.api.server.bundle.v1.BatchDeleteFederatedBundleRequest', 'spire.api.server.bundle.v1.BatchDeleteFederatedBundleResponse', false, false],
  },
  'spire.api.server.debug.v1.Debug': {
    GetInfo: ['spire.api.server.debug.v1.GetInfoRequest', 'spire.api.server.debug.v1.GetInfoResponse', false, false],
  },
  'spire.api.server.entry.v1.Entry': {
    CountEntries: ['spire.api.server.entry.v1.CountEntriesRequest', 'spire.api.server.entry.v1.CountEntriesResponse', false, false],
    ListEntries: ['spire.api.server.entry.v1.ListEntriesRequest', 'spire.api.server.entry.v1.ListEntriesResponse', false, false],
    GetEntry: ['spire.api.server.entry.v1.GetEntryRequest', 'spire.api.types.Entry', false, false],
    BatchCreateEntry: ['spire.api.server.entry.v1.BatchCreateEntryRequest', 'spire.api.server.entry.v1.BatchCreateEntryResponse', false, false],
    BatchUpdateEntry: ['spire.api.server.entry.v1.BatchUpdateEntryRequest', 'spire.api.server.entry.v1.BatchUpdateEntryResponse', false, false],
    BatchDeleteEntry: ['spire.api.server.entry.v1.BatchDeleteEntryRequest', 'spire.api.server.entry.v1.BatchDeleteEntryResponse', false, false],
    GetAuthorizedEntries: ['spire.api.server.entry.v1.GetAuthorizedEntriesRequest', 'spire.api.server.entry.v1.GetAuthorizedEntriesResponse', false, false],
    SyncAuthorizedEntries: ['spire.api.server.entry.v1.SyncAuthorizedEntriesRequest', 'spire.api.server.entry.v1.SyncAuthorizedEntriesResponse', true, true],
  },
  'spire.api.server.localauthority.v1.LocalAuthority': {
    GetJWTAuthorityState: ['spire.api.server.localauthority.v1.GetJWTAuthorityStateRequest', 'spire.api.server.localauthority.v1.GetJWTAuthorityStateResponse', false, false],
    PrepareJWTAuthority: ['spire.api.server.localauthority.v1.PrepareJWTAuthorityRequest', 'spire.api.server.localauthority.v1.PrepareJWTAuthorityResponse', false, false],
    ActivateJWTAuthority: ['spire.api.server.localauthority.v1.ActivateJWTAuthorityRequest', 'spire.api.server.localauthority.v1.ActivateJWTAuthorityResponse', false, false],
    TaintJWTAuthority: ['spire.api.server.localauthority.v1.TaintJWTAuthorityRequest', 'spire.api.server.localauthority.v1.TaintJWTAuthorityResponse', false, false],
    RevokeJWTAuthority: ['spire.api.server.localauthority.v1.RevokeJWTAuthorityRequest', 'spire.api.server.localauthority.v1.RevokeJWTAuthorityResponse', false, false],
    GetX509AuthorityState: ['spire.api.server.localauthority.v1.GetX509AuthorityStateRequest', 'spire.api.server.localauthority.v1.GetX509AuthorityStateResponse', false, false],
    PrepareX509Authority: ['spire.api.server.localauthority.v1.PrepareX509AuthorityRequest', 'spire.api.server.localauthority.v1.PrepareX509AuthorityResponse', false, false],
    ActivateX509Authority: ['spire.api.server.localauthority.v1.ActivateX509AuthorityRequest', 'spire.api.server.localauthority.v1.ActivateX509AuthorityResponse', false, false],
    TaintX509Authority: ['spire.api.server.localauthority.v1.TaintX509AuthorityRequest', 'spire.api.server.localauthority.v1.TaintX509AuthorityResponse', false, false],
    TaintX509UpstreamAuthority: ['spire.api.server.localauthority.v1.TaintX509UpstreamAuthorityRequest', 'spire.api.server.localauthority.v1.TaintX509UpstreamAuthorityResponse', false, false],
    RevokeX509Authority: ['spire.api.server.localauthority.v1.RevokeX509AuthorityRequest', 'spire.api.server.localauthority.v1.RevokeX509AuthorityResponse', false, false],
    RevokeX509UpstreamAuthority: ['spire.api.server.localauthority.v1.RevokeX509UpstreamAuthorityRequest', 'spire.api.server.localauthority.v1.RevokeX509UpstreamAuthorityResponse', false, false],
    GetWITAuthorityState: ['spire.api.server.localauthority.v1.GetWITAuthorityStateRequest', 'spire.api.server.localauthority.v1.GetWITAuthorityStateResponse', false, false],
    PrepareWITAuthority: ['spire.api.server.localauthority.v1.PrepareWITAuthorityRequest', 'spire.api.server.localauthority.v1.PrepareWITAuthorityResponse', false, false],
    ActivateWITAuthority: ['spire.api.server.localauthority.v1.ActivateWITAuthorityRequest', 'spire.api.server.localauthority.v1.ActivateWITAuthorityResponse', false, false],
    TaintWITAuthority: ['spire.api.server.localauthority.v1.TaintWITAuthorityRequest', 'spire.api.server.localauthority.v1.TaintWITAuthorityResponse', false, false],
    RevokeWITAuthority: ['spire.api.server.localauthority.v1.RevokeWITAuthorityRequest', 'spire.api.server.localauthority.v1.RevokeWITAuthorityResponse', false, false],
  },
  'spire.api.server.logger.v1.Logger': {
    GetLogger: ['spire.api.server.logger.v1.GetLoggerRequest', 'spire.api.types.Logger', false, false],
    SetLogLevel: ['spire.api.server.logger.v1.SetLogLevelRequest', 'spire.api.types.Logger', false, false],
    ResetLogLevel: ['spire.api.server.logger.v1.ResetLogLevelRequest', 'spire.api.types.Logger', false, false],
  },
  'spire.api.server.svid.v1.SVID': {
    MintX509SVID: ['spire.api.server.svid.v1.MintX509SVIDRequest', 'spire.api.server.svid.v1.MintX509SVIDResponse', false, false],
    MintJWTSVID: ['spire.api.server.svid.v1.MintJWTSVIDRequest', 'spire.api.server.svid.v1.MintJWTSVIDResponse', false, false],
    MintWITSVID: ['spire.api.server.svid.v1.MintWITSVIDRequest', 'spire.api.server.svid.v1.MintWITSVIDResponse', false, false],
    BatchNewX509SVID: ['spire.api.server.svid.v1.BatchNewX509SVIDRequest', 'spire.api.server.svid.v1.BatchNewX509SVIDResponse', false, false],
    NewJWTSVID: ['spire.api.server.svid.v1.NewJWTSVIDRequest', 'spire.api.server.svid.v1.NewJWTSVIDResponse', false, false],
    BatchNewWITSVID: ['spire.api.server.svid.v1.BatchNewWITSVIDRequest', 'spire.api.server.svid.v1.BatchNewWITSVIDResponse', false, false],
    NewDownstreamX509CA: ['spire.api.server.svid.v1.NewDownstreamX509CARequest', 'spire.api.server.svid.v1.NewDownstreamX509CAResponse', false, false],
  },
  'spire.api.server.trustdomain.v1.TrustDomain': {
    ListFederationRelationships: ['spire.api.server.trustdomain.v1.ListFederationRelationshipsRequest', 'spire.api.server.trustdomain.v1.ListFederationRelationshipsResponse', false, false],
    GetFederationRelationship: ['spire.api.server.trustdomain.v1.GetFederationRelationshipRequest', 'spire.api.types.FederationRelationship', false, false],
    BatchCreateFederationRelationship: ['spire.api.server.trustdomain.v1.BatchCreateFederationRelationshipRequest', 'spire.api.server.trustdomain.v1.BatchCreateFederationRelationshipResponse', false, false],
    BatchUpdateFederationRelationship: ['spire.api.server.trustdomain.v1.BatchUpdateFederationRelationshipRequest', 'spire.api.server.trustdomain.v1.BatchUpdateFederationRelationshipResponse', false, false],
    BatchDeleteFederationRelationship: ['spire.api.server.trustdomain.v1.BatchDeleteFederationRelationshipRequest', 'spire.api.server.trustdomain.v1.BatchDeleteFederationRelationshipResponse', false, false],
    RefreshBundle: ['spire.api.server.trustdomain.v1.RefreshBundleRequest', 'google.protobuf.Empty', false, false],
  },
  'spire.hostservice.common.metrics.v1.Metrics': {
    SetGauge: ['spire.hostservice.common.metrics.v1.SetGaugeRequest', 'google.protobuf.Empty', false, false],
    EmitKey: ['spire.hostservice.common.metrics.v1.EmitKeyRequest', 'google.protobuf.Empty', false, false],
    IncrCounter: ['spire.hostservice.common.metrics.v1.IncrCounterRequest', 'google.protobuf.Empty', false, false],
    AddSample: ['spire.hostservice.common.metrics.v1.AddSampleRequest', 'google.protobuf.Empty', false, false],
    MeasureSince: ['spire.hostservice.common.metrics.v1.MeasureSinceRequest', 'google.protobuf.Empty', false, false],
  },
  'spire.hostservice.server.agentstore.v1.AgentStore': {
    GetAgentInfo: ['spire.hostservice.server.agentstore.v1.GetAgentInfoRequest', 'spire.hostservice.server.agentstore.v1.GetAgentInfoResponse', false, false],
  },
  'spire.hostservice.server.identityprovider.v1.IdentityProvider': {
    FetchX509Identity: ['spire.hostservice.server.identityprovider.v1.FetchX509IdentityRequest', 'spire.hostservice.server.identityprovider.v1.FetchX509IdentityResponse', false, false],
  },
  'spire.plugin.agent.keymanager.v1.KeyManager': {
    GenerateKey: ['spire.plugin.agent.keymanager.v1.GenerateKeyRequest', 'spire.plugin.agent.keymanager.v1.GenerateKeyResponse', false, false],
    GetPublicKey: ['spire.plugin.agent.keymanager.v1.GetPublicKeyRequest', 'spire.plugin.agent.keymanager.v1.GetPublicKeyResponse', false, false],
    GetPublicKeys: ['spire.plugin.agent.keymanager.v1.GetPublicKeysRequest', 'spire.plugin.agent.keymanager.v1.GetPublicKeysResponse', false, false],
    SignData: ['spire.plugin.agent.keymanager.v1.SignDataRequest', 'spire.plugin.agent.keymanager.v1.SignDataResponse', false, false],
  },
  'spire.plugin.agent.nodeattestor.v1.NodeAttestor': {
    AidAttestation: ['spire.plugin.agent.nodeattestor.v1.Challenge', 'spire.plugin.agent.nodeattestor.v1.PayloadOrChallengeResponse', true, true],
  },
  'spire.plugin.agent.svidstore.v1.SVIDStore': {
    PutX509SVID: ['spire.plugin.agent.svidstore.v1.PutX509SVIDRequest', 'spire.plugin.agent.svidstore.v1.PutX509SVIDResponse', false, false],
    DeleteX509SVID: ['spire.plugin.agent.svidstore.v1.DeleteX509SVIDRequest', 'spire.plugin.agent.svidstore.v1.DeleteX509SVIDResponse', false, false],
  },
  'spire.plugin.agent.workloadattestor.v1.WorkloadAttestor': {
    Attest: ['spire.plugin.agent.workloadattestor.v1.AttestRequest', 'spire.plugin.agent.workloadattestor.v1.AttestResponse', false, false],
    AttestReference: ['spire.plugin.agent.workloadattestor.v1.AttestReferenceRequest', 'spire.plugin.agent.workloadattestor.v1.AttestReferenceResponse', false, false],
  },
  'spire.plugin.server.bundlepublisher.v1.BundlePublisher': {
    PublishBundle: ['spire.plugin.server.bundlepublisher.v1.PublishBundleRequest', 'spire.plugin.server.bundlepublisher.v1.PublishBundleResponse', false, false],
  },
  'spire.plugin.server.credentialcomposer.v1.CredentialComposer': {
    ComposeServerX509CA: ['spire.plugin.server.credentialcomposer.v1.ComposeServerX509CARequest', 'spire.plugin.server.credentialcomposer.v1.ComposeServerX509CAResponse', false, false],
    ComposeServerX509SVID: ['spire.plugin.server.credentialcomposer.v1.ComposeServerX509SVIDRequest', 'spire.plugin.server.credentialcomposer.v1.ComposeServerX509SVIDResponse', false, false],
    ComposeAgentX509SVID: ['spire.plugin.server.credentialcomposer.v1.ComposeAgentX509SVIDRequest', 'spire.plugin.server.credentialcomposer.v1.ComposeAgentX509SVIDResponse', false, false],
    ComposeWorkloadX509SVID: ['spire.plugin.server.credentialcomposer.v1.ComposeWorkloadX509SVIDRequest', 'spire.plugin.server.credentialcomposer.v1.ComposeWorkloadX509SVIDResponse', false, false],
    ComposeWorkloadJWTSVID: ['spire.plugin.server.credentialcomposer.v1.ComposeWorkloadJWTSVIDRequest', 'spire.plugin.server.credentialcomposer.v1.ComposeWorkloadJWTSVIDResponse', false, false],
  },
  'spire.plugin.server.keymanager.v1.KeyManager': {
    GenerateKey: ['spire.plugin.server.keymanager.v1.GenerateKeyRequest', 'spire.plugin.server.keymanager.v1.GenerateKeyResponse', false, false],
    GetPublicKey: ['spire.plugin.server.keymanager.v1.GetPublicKeyRequest', 'spire.plugin.server.keymanager.v1.GetPublicKeyResponse', false, false],
    GetPublicKeys: ['spire.plugin.server.keymanager.v1.GetPublicKeysRequest', 'spire.plugin.server.keymanager.v1.GetPublicKeysResponse', false, false],
    SignData: ['spire.plugin.server.keymanager.v1.SignDataRequest', 'spire.plugin.server.keymanager.v1.SignDataResponse', false, false],
  },
  'spire.plugin.server.nodeattestor.v1.NodeAttestor': {
    Attest: ['spire.plugin.server.nodeattestor.v1.AttestRequest', 'spire.plugin.server.nodeattestor.v1.AttestResponse', true, true],
  },
  'spire.plugin.server.notifier.v1.Notifier': {
    Notify: ['spire.plugin.server.notifier.v1.NotifyRequest', 'spire.plugin.server.notifier.v1.NotifyResponse', false, false],
    NotifyAndAdvise: ['spire.plugin.server.notifier.v1.NotifyAndAdviseRequest', 'spire.plugin.server.notifier.v1.NotifyAndAdviseResponse', false, false],
  },
  'spire.plugin.server.upstreamauthority.v1.UpstreamAuthority': {
    MintX509CAAndSubscribe: ['spire.plugin.server.upstreamauthority.v1.MintX509CARequest', 'spire.plugin.server.upstreamauthority.v1.MintX509CAResponse', false, true],
    PublishJWTKeyAndSubscribe: ['spire.plugin.server.upstreamauthority.v1.PublishJWTKeyRequest', 'spire.plugin.server.upstreamauthority.v1.PublishJWTKeyResponse', false, true],
    SubscribeToLocalBundle: ['spire.plugin.server.upstreamauthority.v1.SubscribeToLocalBundleRequest', 'spire.plugin.server.upstreamauthority.v1.SubscribeToLocalBundleResponse', false, true],
  },
  'spire.service.common.config.v1.Config': {
    Configure: ['spire.service.common.config.v1.ConfigureRequest', 'spire.service.common.config.v1.ConfigureResponse', false, false],
    Validate: ['spire.service.common.config.v1.ValidateRequest', 'spire.service.common.config.v1.ValidateResponse', false, false],
  },
  'spire.service.private.init.v1.Init': {
    Init: ['spire.service.private.init.v1.InitRequest', 'spire.service.private.init.v1.InitResponse', false, false],
    Deinit: ['spire.service.private.init.v1.DeinitRequest', 'spire.service.private.init.v1.DeinitResponse', false, false],
  },
};

const MESSAGES: Record<string, readonly string[]> = {
  'X509SVIDRequest': [],
  'X509SVIDResponse': [
    'repeated X509SVID svids = 1',
    'repeated bytes crl = 2',
    'map<string, bytes> federated_bundles = 3',
  ],
  'X509SVID': [
    'string spiffe_id = 1',
    'bytes x509_svid = 2',
    'bytes x509_svid_key = 3',
    'bytes bundle = 4',
    'string hint = 5',
  ],
  'X509BundlesRequest': [],
  'X509BundlesResponse': [
    'repeated bytes crl = 1',
    'map<string, bytes> bundles = 2',
  ],
  'JWTSVIDRequest': [
    'repeated string audience = 1',
    'string spiffe_id = 2',
  ],
  'JWTSVIDResponse': [
    'repeated JWTSVID svids = 1',
  ],
  'JWTSVID': [
    'string spiffe_id = 1',
    'string svid = 2',
    'string hint = 3',
  ],
  'JWTBundlesRequest': [],
  'JWTBundlesResponse': [
    'map<string, bytes> bundles = 1',
  ],
  'ValidateJWTSVIDRequest': [
    'string audience = 1',
    'string svid = 2',
  ],
  'ValidateJWTSVIDResponse': [
    'string spiffe_id = 1',
    'google.protobuf.Struct claims = 2',
  ],
  'WITSVIDRequest': [
    'string spiffe_id = 1',
  ],
  'WITSVIDResponse': [
    'repeated WITSVID svids = 1',
  ],
  'WITSVID': [
    'string spiffe_id = 1',
    'string wit_svid = 2',
    'string wit_svid_key = 3',
    'string hint = 4',
  ],
  'WITBundlesRequest': [],
  'WITBundlesResponse': [
    'map<string, string> bundles = 1',
  ],
  'spire.api.types.Entry': [
    'string id = 1',
    'spire.api.types.SPIFFEID spiffe_id = 2',
    'spire.api.types.SPIFFEID parent_id = 3',
    'repeated spire.api.types.Selector selectors = 4',
    'int32 x509_svid_ttl = 5',
    'repeated string federates_with = 6',
    'bool admin = 7',
    'bool downstream = 8',
    'int64 expires_at = 9',
    'repeated string dns_names = 10',
    'int64 revision_number = 11',
    'bool store_svid = 12',
    'int32 jwt_svid_ttl = 13',
    'string hint = 14',
    'int64 created_at = 15',
    'optional spire.api.types.Entry.AdditionalAttributes additional_attributes = 16',
  ],
  'spire.api.types.Entry.AdditionalAttributes': [
    'bool disable_x509_svid_prefetch = 1',
    'bool jwt_svid_include_jti = 2',
  ],
  'spire.api.types.EntryMask': [
    'bool spiffe_id = 2',
    'bool parent_id = 3',
    'bool selectors = 4',
    'bool x509_svid_ttl = 5',
    'bool federates_with = 6',
    'bool admin = 7',
    'bool downstream = 8',
    'bool expires_at = 9',
    'bool dns_names = 10',
    'bool revision_number = 11',
    'bool store_svid = 12',
    'bool jwt_svid_ttl = 13',
    'bool hint = 14',
    'bool created_at = 15',
    'bool additional_attributes = 16',
  ],
  'spire.api.types.Agent': [
    'spire.api.types.SPIFFEID id = 1',
    'string attestation_type = 2',
    'string x509svid_serial_number = 3',
    'int64 x509svid_expires_at = 4',
    'repeated spire.api.types.Selector selectors = 5',
    'bool banned = 6',
    'bool can_reattest = 7',
    'string agent_version = 8',
  ],
  'spire.api.types.AgentMask': [
    'bool attestation_type = 2',
    'bool x509svid_serial_number = 3',
    'bool x509svid_expires_at = 4',
    'bool selectors = 5',
    'bool banned = 6',
    'bool can_reattest = 7',
    'bool agent_version = 8',
  ],
  'spire.api.types.Bundle': [
    'string trust_domain = 1',
    'repeated spire.api.types.X509Certificate x509_authorities = 2',
    'repeated spire.api.types.JWTKey jwt_authorities = 3',
    'int64 refresh_hint = 4',
    'uint64 sequence_number = 5',
    'repeated spire.api.types.WITKey wit_authorities = 6',
  ],
  'spire.api.types.BundleMask': [
    'bool x509_authorities = 2',
    'bool jwt_authorities = 3',
    'bool refresh_hint = 4',
    'bool sequence_number = 5',
    'bool wit_authorities = 6',
  ],
  'spire.api.types.X509Certificate': [
    'bytes asn1 = 1',
    'bool tainted = 2',
  ],
  'spire.api.types.JWTKey': [
    'bytes public_key = 1',
    'string key_id = 2',
    'int64 expires_at = 3',
    'bool tainted = 4',
  ],
  'spire.api.types.WITKey': [
    'bytes public_key = 1',
    'string key_id = 2',
    'int64 expires_at = 3',
    'bool tainted = 4',
  ],
  'spire.api.types.X509SVID': [
    'repeated bytes cert_chain = 1',
    'spire.api.types.SPIFFEID id = 2',
    'int64 expires_at = 3',
    'string hint = 4',
  ],
  'spire.api.types.JWTSVID': [
    'string token = 1',
    'spire.api.types.SPIFFEID id = 2',
    'int64 expires_at = 3',
    'int64 issued_at = 4',
    'string hint = 5',
  ],
  'spire.api.types.SPIFFEID': [
    'string trust_domain = 1',
    'string path = 2',
  ],
  'spire.api.types.Selector': [
    'string type = 1',
    'string value = 2',
  ],
  'spire.api.types.SelectorMatch': [
    'repeated spire.api.types.Selector selectors = 1',
    'spire.api.types.SelectorMatch.MatchBehavior match = 2',
  ],
  'spire.api.types.Status': [
    'int32 code = 1',
    'string message = 2',
  ],
  'spire.api.types.PermissionDeniedDetails': [
    'spire.api.types.PermissionDeniedDetails.Reason reason = 1',
  ],
  'spire.api.types.FederationRelationship': [
    'string trust_domain = 1',
    'string bundle_endpoint_url = 2',
    '[oneof bundle_endpoint_profile] spire.api.types.HTTPSWebProfile https_web = 3',
    '[oneof bundle_endpoint_profile] spire.api.types.HTTPSSPIFFEProfile https_spiffe = 4',
    'spire.api.types.Bundle trust_domain_bundle = 5',
  ],
  'spire.api.types.AttestationData': [
    'string type = 1',
    'bytes payload = 2',
  ],
  'spire.api.types.JoinToken': [
    'string value = 1',
    'int64 expires_at = 2',
  ],
  'spire.api.types.Logger': [
    'spire.api.types.LogLevel current_level = 1',
    'spire.api.types.LogLevel launch_level = 2',
  ],
  'spire.api.server.agent.v1.AttestAgentRequest': [
    '[oneof step] spire.api.server.agent.v1.AttestAgentRequest.Params params = 1',
    '[oneof step] bytes challenge_response = 2',
  ],
  'spire.api.server.agent.v1.AttestAgentRequest.Params': [
    'spire.api.types.AttestationData data = 1',
    'spire.api.server.agent.v1.AgentX509SVIDParams params = 2',
  ],
  'spire.api.server.agent.v1.AttestAgentResponse': [
    '[oneof step] spire.api.server.agent.v1.AttestAgentResponse.Result result = 1',
    '[oneof step] bytes challenge = 2',
  ],
  'spire.api.server.agent.v1.AttestAgentResponse.Result': [
    'spire.api.types.X509SVID svid = 1',
    'bool reattestable = 2',
  ],
  'spire.api.server.agent.v1.AgentX509SVIDParams': [
    'bytes csr = 1',
  ],
  'spire.api.server.agent.v1.RenewAgentRequest': [
    'spire.api.server.agent.v1.AgentX509SVIDParams params = 1',
  ],
  'spire.api.server.agent.v1.RenewAgentResponse': [
    'spire.api.types.X509SVID svid = 1',
  ],
  'spire.api.server.agent.v1.PostStatusRequest': [
    'uint64 current_bundle_serial = 1',
    'string agent_version = 2',
  ],
  'spire.api.server.agent.v1.CreateJoinTokenRequest': [
    'int32 ttl = 1',
    'string token = 2',
    'spire.api.types.SPIFFEID agent_id = 3',
  ],
  'spire.api.server.entry.v1.GetAuthorizedEntriesRequest': [
    'spire.api.types.EntryMask output_mask = 1',
  ],
  'spire.api.server.entry.v1.GetAuthorizedEntriesResponse': [
    'repeated spire.api.types.Entry entries = 1',
  ],
  'spire.api.server.entry.v1.SyncAuthorizedEntriesRequest': [
    'spire.api.types.EntryMask output_mask = 1',
    'repeated string ids = 2',
  ],
  'spire.api.server.entry.v1.SyncAuthorizedEntriesResponse': [
    'repeated spire.api.server.entry.v1.EntryRevision entry_revisions = 1',
    'repeated spire.api.types.Entry entries = 2',
    'bool more = 3',
  ],
  'spire.api.server.entry.v1.EntryRevision': [
    'string id = 1',
    'int64 revision_number = 2',
    'int64 created_at = 3',
  ],
  'spire.api.server.entry.v1.ListEntriesRequest.Filter': [
    'spire.api.types.SPIFFEID by_spiffe_id = 1',
    'spire.api.types.SPIFFEID by_parent_id = 2',
    'spire.api.types.SelectorMatch by_selectors = 3',
    'spire.api.types.FederatesWithMatch by_federates_with = 4',
    'google.protobuf.StringValue by_hint = 5',
    'google.protobuf.BoolValue by_downstream = 6',
  ],
  'spire.api.server.svid.v1.NewX509SVIDParams': [
    'string entry_id = 1',
    'bytes csr = 2',
  ],
  'spire.api.server.svid.v1.BatchNewX509SVIDRequest': [
    'repeated spire.api.server.svid.v1.NewX509SVIDParams params = 1',
  ],
  'spire.api.server.svid.v1.BatchNewX509SVIDResponse.Result': [
    'spire.api.types.Status status = 1',
    'spire.api.types.X509SVID svid = 2',
  ],
  'spire.api.server.svid.v1.NewJWTSVIDRequest': [
    'string entry_id = 1',
    'repeated string audience = 2',
  ],
  'spire.api.server.svid.v1.NewDownstreamX509CARequest': [
    'bytes csr = 1',
    'int32 preferred_ttl = 2',
  ],
  'spire.api.server.svid.v1.NewDownstreamX509CAResponse': [
    'repeated bytes ca_cert_chain = 1',
    'repeated bytes x509_authorities = 2',
  ],
  'spire.api.server.bundle.v1.GetFederatedBundleRequest': [
    'string trust_domain = 1',
    'spire.api.types.BundleMask output_mask = 2',
  ],
  'spire.api.server.localauthority.v1.AuthorityState': [
    'string authority_id = 1',
    'int64 expires_at = 2',
    'string upstream_authority_subject_key_id = 3',
  ],
  'spire.agent.debug.v1.GetInfoResponse': [
    'repeated spire.agent.debug.v1.GetInfoResponse.Cert svid_chain = 1',
    'int32 uptime = 2',
    'int32 svids_count = 3',
    'int64 last_sync_success = 4',
    'int32 cached_x509_svids_count = 5',
    'int32 cached_jwt_svids_count = 6',
    'int32 cached_svidstore_x509_svids_count = 7',
  ],
  'spire.agent.debug.v1.GetInfoResponse.Cert': [
    'spire.api.types.SPIFFEID id = 1',
    'int64 expires_at = 2',
    'string subject = 3',
  ],
  'spire.api.agent.delegatedidentity.v1.SubscribeToX509SVIDsRequest': [
    'repeated spire.api.types.Selector selectors = 1',
    'int32 pid = 2',
  ],
  'spire.api.agent.delegatedidentity.v1.SubscribeToX509SVIDsResponse': [
    'repeated spire.api.agent.delegatedidentity.v1.X509SVIDWithKey x509_svids = 1',
    'repeated string federates_with = 2',
  ],
  'spire.api.agent.delegatedidentity.v1.X509SVIDWithKey': [
    'spire.api.types.X509SVID x509_svid = 1',
    'bytes x509_svid_key = 2',
  ],
  'spire.api.agent.delegatedidentity.v1.FetchJWTSVIDsRequest': [
    'repeated string audience = 1',
    'repeated spire.api.types.Selector selectors = 2',
    'int32 pid = 3',
  ],
  'spire.api.agent.delegatedidentity.v1.SubscribeToX509BundlesResponse': [
    'map<string, bytes> ca_certificates = 1',
  ],
  'spire.plugin.server.nodeattestor.v1.AttestRequest': [
    '[oneof request] bytes payload = 1',
    '[oneof request] bytes challenge_response = 2',
  ],
  'spire.plugin.server.nodeattestor.v1.AttestResponse': [
    '[oneof response] bytes challenge = 1',
    '[oneof response] spire.plugin.server.nodeattestor.v1.AgentAttributes agent_attributes = 2',
  ],
  'spire.plugin.server.nodeattestor.v1.AgentAttributes': [
    'string spiffe_id = 1',
    'repeated string selector_values = 2',
    'bool can_reattest = 3',
  ],
  'spire.plugin.agent.nodeattestor.v1.Challenge': [
    'bytes challenge = 1',
  ],
  'spire.plugin.agent.nodeattestor.v1.PayloadOrChallengeResponse': [
    '[oneof data] bytes payload = 1',
    '[oneof data] bytes challenge_response = 2',
  ],
  'spire.plugin.agent.workloadattestor.v1.AttestRequest': [
    'int32 pid = 1',
  ],
  'spire.plugin.agent.workloadattestor.v1.AttestResponse': [
    'repeated string selector_values = 1',
  ],
  'spire.plugin.agent.workloadattestor.v1.AttestReferenceRequest': [
    'google.protobuf.Any reference = 1',
  ],
  'spire.plugin.server.keymanager.v1.SignDataRequest': [
    'string key_id = 1',
    'bytes data = 2',
    '[oneof signer_opts] spire.plugin.server.keymanager.v1.HashAlgorithm hash_algorithm = 3',
    '[oneof signer_opts] spire.plugin.server.keymanager.v1.SignDataRequest.PSSOptions pss_options = 4',
  ],
  'spire.plugin.server.keymanager.v1.SignDataRequest.PSSOptions': [
    'int32 salt_length = 1',
    'spire.plugin.server.keymanager.v1.HashAlgorithm hash_algorithm = 2',
  ],
  'spire.plugin.server.keymanager.v1.SignDataResponse': [
    'bytes signature = 1',
    'string key_fingerprint = 2',
  ],
  'spire.plugin.server.keymanager.v1.PublicKey': [
    'string id = 1',
    'spire.plugin.server.keymanager.v1.KeyType type = 2',
    'bytes pkix_data = 3',
    'string fingerprint = 4',
  ],
  'spire.plugin.agent.keymanager.v1.SignDataRequest': [
    'string key_id = 1',
    'bytes data = 2',
    '[oneof signer_opts] spire.plugin.agent.keymanager.v1.HashAlgorithm hash_algorithm = 3',
    '[oneof signer_opts] spire.plugin.agent.keymanager.v1.SignDataRequest.PSSOptions pss_options = 4',
  ],
  'spire.plugin.agent.keymanager.v1.PublicKey': [
    'string id = 1',
    'spire.plugin.agent.keymanager.v1.KeyType type = 2',
    'bytes pkix_data = 3',
    'string fingerprint = 4',
  ],
  'spire.plugin.agent.svidstore.v1.X509SVID': [
    'string spiffeID = 1',
    'repeated bytes cert_chain = 2',
    'bytes private_key = 3',
    'repeated bytes bundle = 4',
    'int64 expires_at = 5',
  ],
  'spire.plugin.agent.svidstore.v1.PutX509SVIDRequest': [
    'X509SVID svid = 1',
    'repeated string metadata = 2',
    'map<string, bytes> federated_bundles = 3',
  ],
  'spire.plugin.types.Bundle': [
    'string trust_domain = 1',
    'repeated spire.plugin.types.X509Certificate x509_authorities = 2',
    'repeated spire.plugin.types.JWTKey jwt_authorities = 3',
    'int64 refresh_hint = 4',
    'uint64 sequence_number = 5',
    'repeated spire.plugin.types.WITKey wit_authorities = 6',
  ],
  'spire.plugin.types.JWTKey': [
    'bytes public_key = 1',
    'string key_id = 2',
    'int64 expires_at = 3',
    'bool tainted = 4',
  ],
  'spire.plugin.types.X509Certificate': [
    'bytes asn1 = 1',
    'bool tainted = 2',
  ],
  'spire.plugin.types.WITKey': [
    'bytes public_key = 1',
    'string key_id = 2',
    'int64 expires_at = 3',
    'bool tainted = 4',
  ],
  'spire.plugin.server.upstreamauthority.v1.MintX509CARequest': [
    'bytes csr = 1',
    'int32 preferred_ttl = 2',
  ],
  'spire.plugin.server.upstreamauthority.v1.MintX509CAResponse': [
    'repeated spire.plugin.types.X509Certificate x509_ca_chain = 1',
    'repeated spire.plugin.types.X509Certificate upstream_x509_roots = 2',
  ],
  'spire.plugin.server.notifier.v1.NotifyRequest': [
    '[oneof event] spire.plugin.server.notifier.v1.BundleUpdated bundle_updated = 1',
  ],
  'spire.plugin.server.credentialcomposer.v1.ComposeWorkloadX509SVIDRequest': [
    'spire.plugin.server.credentialcomposer.v1.X509SVIDAttributes attributes = 1',
    'string spiffe_id = 2',
    'bytes public_key = 3',
  ],
  'spire.plugin.server.credentialcomposer.v1.DistinguishedName': [
    'repeated string country = 1',
    'repeated string organization = 2',
    'repeated string organizational_unit = 3',
    'repeated string locality = 4',
    'repeated string province = 5',
    'repeated string street_address = 6',
    'repeated string postal_code = 7',
    'string serial_number = 8',
    'string common_name = 9',
    'repeated spire.plugin.server.credentialcomposer.v1.AttributeTypeAndValue extra_names = 10',
  ],
  'spire.hostservice.server.identityprovider.v1.FetchX509IdentityResponse': [
    'spire.hostservice.server.identityprovider.v1.X509Identity identity = 1',
    'spire.plugin.types.Bundle bundle = 2',
  ],
  'spire.hostservice.common.metrics.v1.SetGaugeRequest': [
    'repeated string key = 1',
    'float val = 2',
    'repeated spire.hostservice.common.metrics.v1.Label labels = 3',
  ],
  'spire.service.common.config.v1.ConfigureRequest': [
    'spire.service.common.config.v1.CoreConfiguration core_configuration = 1',
    'string hcl_configuration = 2',
  ],
  'spire.service.common.config.v1.CoreConfiguration': [
    'string trust_domain = 1',
  ],
  'spire.service.private.init.v1.InitRequest': [
    'repeated string host_service_names = 1',
  ],
  'spire.service.private.init.v1.InitResponse': [
    'repeated string plugin_service_names = 1',
  ],
  'spiffe.broker.WorkloadPIDReference': [
    'int32 pid = 1',
  ],
  'spiffe.broker.WorkloadReference': [
    'google.protobuf.Any reference = 1',
  ],
  'envoy.service.discovery.v3.DiscoveryRequest': [
    'string version_info = 1',
    'envoy.config.core.v3.Node node = 2',
    'repeated string resource_names = 3',
    'repeated envoy.service.discovery.v3.ResourceLocator resource_locators = 7',
    'string type_url = 4',
    'string response_nonce = 5',
    'google.rpc.Status error_detail = 6',
  ],
  'envoy.service.discovery.v3.DiscoveryResponse': [
    'string version_info = 1',
    'repeated google.protobuf.Any resources = 2',
    'bool canary = 3',
    'string type_url = 4',
    'string nonce = 5',
    'envoy.config.core.v3.ControlPlane control_plane = 6',
    'repeated envoy.service.discovery.v3.ResourceError resource_errors = 7',
  ],
  'envoy.config.core.v3.Node': [
    'string id = 1',
    'string cluster = 2',
    'google.protobuf.Struct metadata = 3',
    'map<string, xds.core.v3.ContextParams> dynamic_parameters = 12',
    'envoy.config.core.v3.Locality locality = 4',
    'string user_agent_name = 6',
    '[oneof user_agent_version_type] string user_agent_version = 7',
    '[oneof user_agent_version_type] envoy.config.core.v3.BuildVersion user_agent_build_version = 8',
    'repeated envoy.config.core.v3.Extension extensions = 9',
    'repeated string client_features = 10',
  ],
  'envoy.config.core.v3.BuildVersion': [
    'envoy.type.v3.SemanticVersion version = 1',
    'google.protobuf.Struct metadata = 2',
  ],
  'envoy.type.v3.SemanticVersion': [
    'uint32 major_number = 1',
    'uint32 minor_number = 2',
    'uint32 patch = 3',
  ],
  'envoy.config.core.v3.DataSource': [
    '[oneof specifier] string filename = 1',
    '[oneof specifier] bytes inline_bytes = 2',
    '[oneof specifier] string inline_string = 3',
    '[oneof specifier] string environment_variable = 4',
    'envoy.config.core.v3.WatchedDirectory watched_directory = 5',
  ],
  'envoy.config.core.v3.TypedExtensionConfig': [
    'string name = 1',
    'google.protobuf.Any typed_config = 2',
  ],
  'envoy.extensions.transport_sockets.tls.v3.Secret': [
    'string name = 1',
    '[oneof type] envoy.extensions.transport_sockets.tls.v3.TlsCertificate tls_certificate = 2',
    '[oneof type] envoy.extensions.transport_sockets.tls.v3.TlsSessionTicketKeys session_ticket_keys = 3',
    '[oneof type] envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext validation_context = 4',
    '[oneof type] envoy.extensions.transport_sockets.tls.v3.GenericSecret generic_secret = 5',
  ],
  'envoy.extensions.transport_sockets.tls.v3.TlsCertificate': [
    'envoy.config.core.v3.DataSource certificate_chain = 1',
    'envoy.config.core.v3.DataSource private_key = 2',
    'envoy.config.core.v3.DataSource pkcs12 = 8',
    'envoy.config.core.v3.WatchedDirectory watched_directory = 7',
    'envoy.extensions.transport_sockets.tls.v3.PrivateKeyProvider private_key_provider = 6',
    'envoy.config.core.v3.DataSource password = 3',
    'envoy.config.core.v3.DataSource ocsp_staple = 4',
    'repeated envoy.config.core.v3.DataSource signed_certificate_timestamp = 5',
  ],
  'envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext': [
    'envoy.config.core.v3.DataSource trusted_ca = 1',
    'envoy.extensions.transport_sockets.tls.v3.CertificateProviderPluginInstance ca_certificate_provider_instance = 13',
    'envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext.SystemRootCerts system_root_certs = 17',
    'envoy.config.core.v3.WatchedDirectory watched_directory = 11',
    'repeated string verify_certificate_spki = 3',
    'repeated string verify_certificate_hash = 2',
    'google.protobuf.BoolValue require_signed_certificate_timestamp = 6',
    'envoy.config.core.v3.DataSource crl = 7',
    'bool allow_expired_certificate = 8',
    'envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext.TrustChainVerification trust_chain_verification = 10',
    'envoy.config.core.v3.TypedExtensionConfig custom_validator_config = 12',
    'bool only_verify_leaf_cert_crl = 14',
    'google.protobuf.UInt32Value max_verify_depth = 16',
  ],
  'envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig': [
    'repeated envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig.TrustDomain trust_domains = 1',
    'envoy.config.core.v3.DataSource trust_bundles = 2',
  ],
  'envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig.TrustDomain': [
    'string name = 1',
    'envoy.config.core.v3.DataSource trust_bundle = 2',
  ],
  'google.rpc.Status': [
    'int32 code = 1',
    'string message = 2',
    'repeated google.protobuf.Any details = 3',
  ],
};

const ENUMS: Record<string, readonly string[]> = {
  'spire.plugin.server.keymanager.v1.KeyType': [
    'UNSPECIFIED_KEY_TYPE = 0',
    'EC_P256 = 1',
    'EC_P384 = 2',
    'RSA_2048 = 3',
    'RSA_4096 = 4',
  ],
  'spire.plugin.server.keymanager.v1.HashAlgorithm': [
    'UNSPECIFIED_HASH_ALGORITHM = 0',
    'SHA224 = 4',
    'SHA256 = 5',
    'SHA384 = 6',
    'SHA512 = 7',
    'SHA3_224 = 10',
    'SHA3_256 = 11',
    'SHA3_384 = 12',
    'SHA3_512 = 13',
    'SHA512_224 = 14',
    'SHA512_256 = 15',
  ],
};

const root = loadRoot();

describe('proto services match upstream', () => {
  const services = allServices(root).filter((s) => !FOREIGN.test(name(s.fullName)));

  it('defines exactly the expected services', () => {
    expect(services.map((s) => name(s.fullName)).sort()).toEqual(Object.keys(SERVICES).sort());
  });

  for (const [full, rpcs] of Object.entries(SERVICES)) {
    it(full, () => {
      const svc = root.lookupService(`.${full}`);
      const actual: Record<string, Rpc> = {};
      for (const m of svc.methodsArray) {
        const req = m.resolvedRequestType?.fullName ?? m.requestType;
        const res = m.resolvedResponseType?.fullName ?? m.responseType;
        actual[m.name] = [name(req), name(res), m.requestStream === true, m.responseStream === true];
      }
      expect(actual).toEqual(rpcs);
    });
  }
});

describe('proto messages match upstream', () => {
  for (const [full, fields] of Object.entries(MESSAGES)) {
    it(full, () => {
      const type: Protobuf.Type = root.lookupType(`.${full}`);
      expect(byNumber(type.fieldsArray.map(fieldLine))).toEqual(byNumber(fields));
    });
  }

  for (const [full, values] of Object.entries(ENUMS)) {
    it(full, () => {
      const e = root.lookupEnum(`.${full}`);
      expect(Object.entries(e.values).map(([k, v]) => `${k} = ${v}`)).toEqual(values);
    });
  }

  it('keeps the Workload API at the top level (no package)', () => {
    expect(root.lookupService('.SpiffeWorkloadAPI').fullName).toBe('.SpiffeWorkloadAPI');
    expect(root.lookupType('.X509SVIDResponse').fullName).toBe('.X509SVIDResponse');
  });
});

describe('@spire-ts/proto service loader', () => {
  const names = Object.keys(serviceFiles).filter(isServiceName);

  it('lists every service defined in the tree', () => {
    const all = allServices(root).map((s) => name(s.fullName));
    expect([...names].sort()).toEqual(all.sort());
  });

  for (const svc of names) {
    it(`loads ${svc}`, () => {
      const def = serviceDefinition(svc) as unknown as Record<string, { path: string }>;
      const methods = Object.values(def);
      expect(methods.length).toBeGreaterThan(0);
      for (const m of methods) expect(m.path.startsWith(`/${svc}/`)).toBe(true);
    });
  }

  it('uses the package-less Workload API method paths', () => {
    const def = serviceDefinition('SpiffeWorkloadAPI');
    expect(def.FetchX509SVID.path).toBe('/SpiffeWorkloadAPI/FetchX509SVID');
    expect(def.FetchX509SVID.responseStream).toBe(true);
    expect(def.FetchJWTSVID.path).toBe('/SpiffeWorkloadAPI/FetchJWTSVID');
    expect(def.ValidateJWTSVID.requestStream).toBe(false);
  });

  it('uses the upstream package names on the wire', () => {
    expect(serviceDefinition('spire.agent.debug.v1.Debug').GetInfo.path).toBe('/spire.agent.debug.v1.Debug/GetInfo');
    expect(serviceDefinition('spire.api.server.agent.v1.Agent').AttestAgent.path).toBe('/spire.api.server.agent.v1.Agent/AttestAgent');
    expect(serviceDefinition('spire.api.server.entry.v1.Entry').SyncAuthorizedEntries.requestStream).toBe(true);
    expect(serviceDefinition('envoy.service.secret.v3.SecretDiscoveryService').StreamSecrets.path)
      .toBe('/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets');
  });

  it('keeps the SVIDStore spiffeID field name as upstream spells it', () => {
    const type = root.lookupType('.spire.plugin.agent.svidstore.v1.X509SVID');
    const encoded = type.encode(type.fromObject({ spiffeID: 'spiffe://example.org/w' })).finish();
    // Field 1, wire type 2 (length-delimited).
    expect(encoded[0]).toBe(0x0a);
    expect(type.toObject(type.decode(encoded))).toEqual({ spiffeID: 'spiffe://example.org/w' });
  });
});
