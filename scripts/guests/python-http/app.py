"""wasi:http/proxy@0.2.6 guest for pooling-lab, built by componentize-py.

Every request gets status 200, content-type text/plain and the body
"hello from python: <path-with-query>\n" (the path is "/" when the request
has none). Built by scripts/fetch-guests.sh --only python-http.
"""

from wit_world import exports
from wit_world.imports.types import (
    Fields,
    IncomingRequest,
    OutgoingBody,
    OutgoingResponse,
    ResponseOutparam,
)
from componentize_py_types import Ok


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        path = request.path_with_query() or "/"
        body = f"hello from python: {path}\n".encode()
        headers = Fields.from_list([
            ("content-type", b"text/plain"),
            ("content-length", str(len(body)).encode()),
        ])
        response = OutgoingResponse(headers)
        response.set_status_code(200)
        out = response.body()
        ResponseOutparam.set(response_out, Ok(response))
        with out.write() as stream:
            stream.blocking_write_and_flush(body)
        OutgoingBody.finish(out, None)
