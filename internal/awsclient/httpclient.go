package awsclient

import (
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// HTTPClient wraps an SDK HTTP client to work around a race in smithy-go:
// the request body it builds implements io.WriterTo, and once the SDK has
// closed it (which it does as soon as the response arrives) its WriteTo
// returns io.EOF as an error. net/http reads the body once more after
// sending Content-Length bytes to check for extra data; when a fast server
// (the emulator, an endpoint in the same VPC) answers before that read,
// the EOF is taken for a body read error and the connection is closed
// under the response being read ("use of closed network connection").
// Hiding WriteTo makes net/http use Read, which reports a clean EOF.
// (Go's io.WriterTo contract: WriteTo must not return io.EOF, go.dev/issue/44411.)
func HTTPClient(inner aws.HTTPClient) aws.HTTPClient {
	if inner == nil {
		inner = awshttp.NewBuildableClient()
	}
	return readOnlyBodyClient{inner}
}

type readOnlyBodyClient struct{ inner aws.HTTPClient }

func (c readOnlyBodyClient) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody {
		req.Body = readOnlyBody{req.Body}
	}
	return c.inner.Do(req)
}

// readOnlyBody exposes only Read and Close.
type readOnlyBody struct{ rc io.ReadCloser }

func (b readOnlyBody) Read(p []byte) (int, error) { return b.rc.Read(p) }
func (b readOnlyBody) Close() error               { return b.rc.Close() }
