"""S3 on the wire, shared by the proxy and `roar get`/`roar put`: SigV4 signing with botocore
(``signing``), the XML documents S3 exchanges (``xml``) and where a request goes (``urls``)."""
