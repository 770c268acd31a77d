"""S3-style XML answers, for requests the proxy refuses and for HTTP it cannot even parse."""

from __future__ import annotations

from http import HTTPStatus

from aiohttp import web

from roar.s3.xml import error_body


def xml_response(status: int, code: str, message: str, resource: str = "") -> web.Response:
    response = web.Response(
        status=status,
        body=error_body(code, message, resource),
        content_type="application/xml",
    )
    response.force_close()
    return response


class XmlErrorProtocol(web.RequestHandler):
    """aiohttp's connection handler, answering requests it cannot parse in S3's XML format.

    Only the status phrase goes back: the parser's message may quote request bytes.
    """

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        response = super().handle_error(request, status, exc, message)  # logs, checks state
        code = "InternalError" if status >= 500 else "InvalidRequest"
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "error"
        xml = xml_response(status, code, f"roar proxy: malformed HTTP request ({phrase})")
        xml.force_close()
        del response
        return xml


class XmlErrorServer(web.Server):
    # web.Server builds one RequestHandler per connection in __call__ (aiohttp 3.9 to 3.14).
    def __call__(self) -> web.RequestHandler:
        return XmlErrorProtocol(self, loop=self._loop, **self._kwargs)
