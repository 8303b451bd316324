// wasi:http/proxy@0.2.6 guest for pooling-lab, built by ComponentizeJS (StarlingMonkey).
//
// Every request gets status 200, content-type text/plain and the body
// "hello from js: <path-with-query>\n" (the path is "/" when the request has
// none). Built by scripts/fetch-guests.sh --only js-http.
//
// The handler is written against wasi:http/types directly: StarlingMonkey's
// own fetch-event handler exports wasi:http/incoming-handler@0.2.10, which
// would not match the 0.2.6 world this guest is built for.

import {
  Fields,
  OutgoingBody,
  OutgoingResponse,
  ResponseOutparam,
} from "wasi:http/types@0.2.6";

const encoder = new TextEncoder();

export const incomingHandler = {
  handle(request, responseOut) {
    const path = request.pathWithQuery() ?? "/";
    const body = encoder.encode(`hello from js: ${path}\n`);
    const headers = Fields.fromList([
      ["content-type", encoder.encode("text/plain")],
      ["content-length", encoder.encode(String(body.length))],
    ]);
    const response = new OutgoingResponse(headers);
    response.setStatusCode(200);
    const outgoingBody = response.body();
    ResponseOutparam.set(responseOut, { tag: "ok", val: response });
    const stream = outgoingBody.write();
    stream.blockingWriteAndFlush(body);
    // The output stream is a child of the body: drop it before finishing the body.
    stream[Symbol.dispose]();
    OutgoingBody.finish(outgoingBody, undefined);
  },
};
