/**
 * Who may do what: the one home of authorization. Route rules (plugins/access.ts), list filters,
 * the gateway's catalog and long-lived streams all ask here; nothing else decides access.
 */
export { isAdmin, type Principal } from './principal.ts'
export { computeGrants, effectiveGrants, MAX_GROUP_DEPTH, permissionStrings, withAncestors, type Assignment, type Grants, type GroupNode, type ServerGrant } from './grants.ts'
export { approvalVerdict, authorize, groupByRef, isIdShaped, permissionsOf, readableGroups, readableServerIds, serversInScope, serverVerdict, type EndpointScope, type Resource, type ServerReach, type Verdict } from './policy.ts'
export { currentPrincipal, LiveAccess, type LiveStream } from './live.ts'
