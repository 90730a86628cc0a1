// Types of the `receiptdb` package: the in-process store (docs/EMBEDDING.md).
import { SyncMethods, EventName, Events, MethodName, ParamsOf, ResultOf, ReceiptDBError, OptionalEventName } from './lib/types';
export * from './lib/types';

export interface ReceiptStoreOptions {
  /** Opt-in events to turn on at open (the `subscribe` method). */
  events?: OptionalEventName[];
  /** "normal" (default: a commit survives the process dying) or "full" (also a power cut). */
  durability?: 'normal' | 'full';
  /** The passphrase of an encrypted store (SQLCipher); a new store is created encrypted with it. */
  key?: string;
}

/**
 * One user's store, in this thread. Calls are synchronous and return `result`;
 * a failure throws a ReceiptDBError. Listeners run before the call that caused
 * their event returns, in commit order. Integers beyond Number's safe range
 * come back as `bigint` (see `Int`); params take `bigint` too, and NaN or
 * ±Infinity anywhere in them throws INVALID_PARAMS.
 */
export declare class ReceiptStore {
  /** Throws a ReceiptDBError (e.g. OWNER_MISMATCH, STORE_CORRUPT) when the store cannot be opened. */
  constructor(path: string, userID: string, options?: ReceiptStoreOptions);
  readonly isOpen: boolean;
  call<M extends MethodName>(method: M, params?: ParamsOf<M>): ResultOf<M>;
  call(method: string, params?: unknown): unknown;
  on<E extends EventName>(event: E, listener: (params: Events[E]) => void): this;
  off<E extends EventName>(event: E, listener: (params: Events[E]) => void): this;
  /** Idempotent; later calls throw STORE_CLOSED. */
  close(): void;
  /** Deletes a closed store for good (logout); whether there was one. Throws STORE_BUSY while any store has it open. */
  static deleteStore(path: string, userID: string, options?: { key?: string }): boolean;
}

/** Every method of docs/PROTOCOL.md as a method of the class (declared once, in lib/types.d.ts). */
export interface ReceiptStore extends SyncMethods {}

export declare const METHODS: readonly MethodName[];
export declare const EVENTS: readonly EventName[];
export { ReceiptDBError };
