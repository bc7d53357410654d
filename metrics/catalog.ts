/**
 * Every metric the hub records, once: its kind, unit, labels and who may read it. The recorder,
 * the stored history, `GET /api/monitoring/metrics`, `/metrics` (Prometheus) and the README's
 * table all come from this list.
 *
 * - `counter`: events counted per bucket (a series' point is the bucket's total).
 * - `gauge`: a level sampled every few seconds (a point is the bucket's mean; `max` kept too).
 * - `histogram`: observed values (a point has the count, mean and p50/p95/p99 from the bounds).
 *
 * `scope: 'server'` series carry a `server` label (the server's key) and are readable by whoever
 * may read that server; `scope: 'hub'` series are for admins. `prometheus` lists the labels the
 * metric keeps on `/metrics` (low cardinality only); the history keeps every label.
 */
export type MetricKind = 'counter' | 'gauge' | 'histogram'

export interface MetricDefinition {
  kind: MetricKind
  unit: 'requests' | 'calls' | 'errors' | 'ms' | 'percent' | 'bytes' | 'seconds' | 'ratio' | 'count' | 'restarts'
  help: string
  labels: readonly string[]
  scope: 'hub' | 'server'
  prometheus: { name: string, labels: readonly string[] }
}

/** Upper bounds (ms) of the latency histograms; one more count holds what lies above the last. */
export const LATENCY_BOUNDS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000] as const

export const METRICS = {
  // HTTP (REST API, MCP endpoints, /ws upgrades), per route template.
  requests: { kind: 'counter', unit: 'requests', help: 'HTTP requests answered, by route template, method and status class', labels: ['route', 'method', 'status'], scope: 'hub', prometheus: { name: 'mcphub_http_requests_total', labels: ['route', 'method', 'status'] } },
  errors: { kind: 'counter', unit: 'errors', help: 'HTTP requests answered with a 5xx status, by route template', labels: ['route'], scope: 'hub', prometheus: { name: 'mcphub_http_errors_total', labels: ['route'] } },
  responseTime: { kind: 'histogram', unit: 'ms', help: 'HTTP response time, by route template', labels: ['route'], scope: 'hub', prometheus: { name: 'mcphub_http_response_time_ms', labels: ['route'] } },
  rateLimited: { kind: 'counter', unit: 'requests', help: 'Requests refused by a rate limit (429)', labels: [], scope: 'hub', prometheus: { name: 'mcphub_http_rate_limited_total', labels: [] } },

  // MCP gateway.
  mcpSessions: { kind: 'gauge', unit: 'count', help: 'MCP sessions open', labels: [], scope: 'hub', prometheus: { name: 'mcphub_mcp_sessions', labels: [] } },
  mcpRequests: { kind: 'counter', unit: 'requests', help: 'MCP requests received from clients, by method', labels: ['method'], scope: 'hub', prometheus: { name: 'mcphub_mcp_requests_total', labels: ['method'] } },
  relayedRequests: { kind: 'counter', unit: 'requests', help: 'Requests from servers relayed to clients (sampling, elicitation, roots), by server and method', labels: ['server', 'method'], scope: 'server', prometheus: { name: 'mcphub_mcp_relayed_requests_total', labels: ['server', 'method'] } },
  toolCalls: { kind: 'counter', unit: 'calls', help: 'tools/call requests answered, by server and tool', labels: ['server', 'tool'], scope: 'server', prometheus: { name: 'mcphub_tool_calls_total', labels: ['server'] } },
  toolErrors: { kind: 'counter', unit: 'errors', help: 'tools/call requests that failed or whose result is an error, by server and tool', labels: ['server', 'tool'], scope: 'server', prometheus: { name: 'mcphub_tool_errors_total', labels: ['server'] } },
  toolLatency: { kind: 'histogram', unit: 'ms', help: 'tools/call latency through the hub, by server and tool', labels: ['server', 'tool'], scope: 'server', prometheus: { name: 'mcphub_tool_latency_ms', labels: ['server'] } },

  // The hub's process.
  cpu: { kind: 'gauge', unit: 'percent', help: 'The hub process\'s CPU use (100 = one core)', labels: [], scope: 'hub', prometheus: { name: 'mcphub_process_cpu_percent', labels: [] } },
  memory: { kind: 'gauge', unit: 'bytes', help: 'The hub process\'s resident memory (RSS)', labels: [], scope: 'hub', prometheus: { name: 'mcphub_process_resident_memory_bytes', labels: [] } },
  heapUsed: { kind: 'gauge', unit: 'bytes', help: 'The hub\'s JavaScript heap in use', labels: [], scope: 'hub', prometheus: { name: 'mcphub_process_heap_used_bytes', labels: [] } },
  eventLoopDelay: { kind: 'gauge', unit: 'ms', help: 'Mean event-loop delay', labels: [], scope: 'hub', prometheus: { name: 'mcphub_event_loop_delay_ms', labels: [] } },
  eventLoopUtilization: { kind: 'gauge', unit: 'ratio', help: 'Share of time the event loop was busy (0 to 1)', labels: [], scope: 'hub', prometheus: { name: 'mcphub_event_loop_utilization_ratio', labels: [] } },

  // MCP servers (children).
  serverCpu: { kind: 'gauge', unit: 'percent', help: 'A server process\'s CPU use (100 = one core), its process group included', labels: ['server'], scope: 'server', prometheus: { name: 'mcphub_server_cpu_percent', labels: ['server'] } },
  serverMemory: { kind: 'gauge', unit: 'bytes', help: 'A server process\'s resident memory (RSS), its process group included', labels: ['server'], scope: 'server', prometheus: { name: 'mcphub_server_resident_memory_bytes', labels: ['server'] } },
  serverRestarts: { kind: 'counter', unit: 'restarts', help: 'Restarts of a server after it exited or failed', labels: ['server'], scope: 'server', prometheus: { name: 'mcphub_server_restarts_total', labels: ['server'] } },
  serverUp: { kind: 'gauge', unit: 'ratio', help: '1 while a server is running, 0 otherwise (a bucket\'s mean is its availability)', labels: ['server'], scope: 'server', prometheus: { name: 'mcphub_server_up', labels: ['server'] } },
  servers: { kind: 'gauge', unit: 'count', help: 'Servers in each state', labels: ['state'], scope: 'hub', prometheus: { name: 'mcphub_servers', labels: ['state'] } },

  // Database and WebSocket.
  dbPoolSize: { kind: 'gauge', unit: 'count', help: 'PostgreSQL pool connections (0 on the embedded database)', labels: [], scope: 'hub', prometheus: { name: 'mcphub_db_pool_connections', labels: [] } },
  dbPoolWaiting: { kind: 'gauge', unit: 'count', help: 'Queries waiting for a pool connection', labels: [], scope: 'hub', prometheus: { name: 'mcphub_db_pool_waiting', labels: [] } },
  dbQueryTime: { kind: 'histogram', unit: 'ms', help: 'Database query time', labels: [], scope: 'hub', prometheus: { name: 'mcphub_db_query_time_ms', labels: [] } },
  wsConnections: { kind: 'gauge', unit: 'count', help: 'WebSocket connections open on /ws', labels: [], scope: 'hub', prometheus: { name: 'mcphub_ws_connections', labels: [] } }
} as const satisfies Record<string, MetricDefinition>

export type MetricName = keyof typeof METRICS
export const METRIC_NAMES = Object.keys(METRICS) as MetricName[]

type NamesOf<K extends MetricKind> = { [N in MetricName]: (typeof METRICS)[N]['kind'] extends K ? N : never }[MetricName]
export type CounterName = NamesOf<'counter'>
export type GaugeName = NamesOf<'gauge'>
export type HistogramName = NamesOf<'histogram'>

/** A series' labels, keyed by the metric's label names. */
export type LabelsOf<N extends MetricName> = { [L in (typeof METRICS)[N]['labels'][number]]: string }

export function definitionOf (name: MetricName): MetricDefinition {
  return METRICS[name]
}
