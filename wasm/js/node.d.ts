// Types of mcpwire-wasm/node: a node:http server in front of a fetch handler.

export interface NodeServer {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  /** Stops accepting and closes every open connection. */
  close(): Promise<void>;
}

/** Serves `handler` on `hostname` (default 127.0.0.1) and `port` (default: any free one). */
export declare function serve(
  handler: { fetch(request: Request): Promise<Response> },
  options?: { port?: number; hostname?: string },
): Promise<NodeServer>;
