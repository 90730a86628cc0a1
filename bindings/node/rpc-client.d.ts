// Types of `receiptdb/rpc-client`: the same store over a `receiptdb rpc` process, as Promises.
import { AsyncMethods, EventName, Events, MethodName, ParamsOf, ResultOf, ReceiptDBError, OptionalEventName } from './lib/types';
export * from './lib/types';

export interface RpcOptions {
  /** The `receiptdb` binary (default: $RECEIPTDB_BIN, else target/release/receiptdb of this repository). */
  binary?: string;
  events?: OptionalEventName[];
  /** The passphrase of an encrypted store (passed to the server in its environment, not argv). */
  key?: string;
}

export declare class RpcReceiptStore {
  /** Spawns the server; rejects with a ReceiptDBError when the store cannot be opened. */
  static open(path: string, userID: string, options?: RpcOptions): Promise<RpcReceiptStore>;
  readonly isOpen: boolean;
  call<M extends MethodName>(method: M, params?: ParamsOf<M>): Promise<ResultOf<M>>;
  call(method: string, params?: unknown): Promise<unknown>;
  on<E extends EventName>(event: E, listener: (params: Events[E]) => void): this;
  off<E extends EventName>(event: E, listener: (params: Events[E]) => void): this;
  /** Ends the server's input and resolves when it has exited. Idempotent. */
  close(): Promise<void>;
}

export declare const DEFAULT_BINARY: string;
/** Every method of docs/PROTOCOL.md as a method of the class (declared once, in lib/types.d.ts). */
export interface RpcReceiptStore extends AsyncMethods {}

export declare const METHODS: readonly MethodName[];
export declare const EVENTS: readonly EventName[];
export { ReceiptDBError };
