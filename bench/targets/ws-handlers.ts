// The WebSocket handler of the ws-echo benchmark (bench/ws-echo.ts): every message back as it came.
import type { WebSocketHandler } from 'isopool/handler'

export const echo: WebSocketHandler = {
  message (ws, data, isBinary) {
    ws.send(data, isBinary)
  }
}
