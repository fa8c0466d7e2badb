// A server-sent events reader over fetch: EventSource cannot send the Bearer header, so the
// SDK opens the stream (openapi-fetch with parseAs "stream") and eventsource-parser splits it
// into events. After a drop (network, server restart, shutdown) it reconnects with the last
// event id as Last-Event-ID, so nothing is missed and nothing is sent twice.
import { useEffect, useRef, useState } from "react";
import { EventSourceParserStream, type EventSourceMessage } from "eventsource-parser/stream";

/** Opens the stream from after `lastEventId`; undefined body when the server refused it. */
export type Open = (
  lastEventId: string | undefined,
  signal: AbortSignal,
) => Promise<{ body: ReadableStream<Uint8Array> | undefined; status: number }>;

export type Connection = "connecting" | "live" | "reconnecting" | "ended";

export interface LiveOptions<T> {
  /** Restart from scratch when this changes (another order, another point). */
  key: string | null;
  open: Open;
  onMessage: (data: T, message: EventSourceMessage) => void;
  /** True when the stream ended for good (e.g. the order reached its last status). */
  finished?: (data: T) => boolean;
}

const MIN_RETRY_MS = 500;
const MAX_RETRY_MS = 5000;

export function useLiveStream<T>({ key, open, onMessage, finished }: LiveOptions<T>): Connection {
  const [state, setState] = useState<Connection>("connecting");
  const handlers = useRef({ open, onMessage, finished });
  useEffect(() => {
    handlers.current = { open, onMessage, finished };
  });

  useEffect(() => {
    if (key === null) return;
    const abort = new AbortController();
    let lastEventId: string | undefined;
    let done = false;
    let retry = MIN_RETRY_MS;
    const run = async () => {
      while (!abort.signal.aborted && !done) {
        try {
          const { body, status } = await handlers.current.open(lastEventId, abort.signal);
          if (!body) throw new Error(`stream refused: ${status}`);
          setState("live");
          retry = MIN_RETRY_MS;
          const events = body
            .pipeThrough(new TextDecoderStream() as ReadableWritablePair<string, Uint8Array>)
            .pipeThrough(new EventSourceParserStream());
          const reader = events.getReader();
          for (;;) {
            const { value, done: ended } = await reader.read();
            if (ended) break;
            if (value.id) lastEventId = value.id;
            const data = JSON.parse(value.data) as T;
            handlers.current.onMessage(data, value);
            if (handlers.current.finished?.(data)) done = true;
          }
        } catch (error) {
          if (abort.signal.aborted) return;
          console.warn("live stream dropped", error);
        }
        if (done) break;
        setState("reconnecting");
        await new Promise((resolve) => setTimeout(resolve, retry));
        retry = Math.min(retry * 2, MAX_RETRY_MS);
      }
      if (!abort.signal.aborted) setState("ended");
    };
    void run();
    return () => abort.abort();
  }, [key]);

  return state;
}

export function ConnectionBadge({ state }: { state: Connection }) {
  const text: Record<Connection, string> = {
    connecting: "연결 중…",
    live: "실시간",
    reconnecting: "다시 연결 중…",
    ended: "종료됨",
  };
  return (
    <span className={`badge badge-${state}`} data-testid="connection" role="status">
      {text[state]}
    </span>
  );
}
