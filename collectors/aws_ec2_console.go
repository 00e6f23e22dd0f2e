package collectors

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/schema"
)

// ec2Console reads the instance's serial console output and, unless
// configured not to, a screenshot of its display, kept as evidence. The
// console is what a responder looks at when the instance is unreachable:
// kernel panics, rootkit messages, a ransom note on a Windows desktop.
//
// Reading them changes nothing on the instance (the screenshot is taken
// without WakeUp, which would send it a keystroke).
type ec2Console struct {
	screenshot bool
}

const (
	// consoleOutputMax is the console output kept: EC2 serves its last
	// 64 KiB, and so much fits in facts.
	consoleOutputMax = 64 << 10
	// screenshotMax bounds a screenshot kept as evidence; EC2's are tens
	// of kilobytes.
	screenshotMax = 8 << 20
)

func init() {
	Register(&Definition{
		Type:           "aws_ec2_console",
		Summary:        "Console output and a console screenshot (kept as evidence)",
		ResourceTypes:  []string{schema.ResourceInstance},
		DefaultTimeout: 30 * time.Second,
		FactsSchema:    "aws_ec2_console",
		Attributes: hcldec.ObjectSpec{
			"screenshot": &hcldec.AttrSpec{Name: "screenshot", Type: cty.Bool},
		},
		New: func(cfg cty.Value) (Collector, error) {
			c := ec2Console{screenshot: true}
			if v := cfg.GetAttr("screenshot"); !v.IsNull() {
				c.screenshot = v.True()
			}
			return c, nil
		},
	})
}

func (c ec2Console) Permissions() []string {
	if !c.screenshot {
		return []string{"ec2:GetConsoleOutput"}
	}
	return []string{"ec2:GetConsoleOutput", "ec2:GetConsoleScreenshot"}
}

func (c ec2Console) Collect(ctx context.Context, req *Request) (map[string]any, error) {
	t, err := ec2TargetOf("aws_ec2_console", req)
	if err != nil {
		return nil, err
	}
	client := req.AWS.EC2(t.account, t.region)
	out, err := client.GetConsoleOutput(ctx, &ec2.GetConsoleOutputInput{InstanceId: aws.String(t.id), Latest: aws.Bool(true)})
	if err != nil {
		if ec2ErrorCode(err) == "InvalidInstanceID.NotFound" {
			return nil, fmt.Errorf("instance %s does not exist%s", t.id, t.where())
		}
		return nil, fmt.Errorf("reading the console output of %s: %w", t.id, err)
	}
	// An instance that has written nothing yet has no output at all.
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(out.Output))
	if err != nil {
		return nil, fmt.Errorf("console output of %s: not base64: %w", t.id, err)
	}
	text, truncated := consoleText(raw, consoleOutputMax)
	facts := map[string]any{"output": text, "output_truncated": truncated}
	if !c.screenshot {
		return facts, nil
	}

	// The output is evidence already: a screenshot that cannot be taken
	// (a stopped or bare metal instance, a missing permission) is said in
	// the facts rather than failing them.
	img, format, err := consoleScreenshot(ctx, client, t.id)
	if err != nil {
		facts["screenshot_error"] = screenshotError(err)
		return facts, nil
	}
	sum := sha256.Sum256(img)
	digest := hex.EncodeToString(sum[:])
	req.keep(Artefact{
		Kind: "screenshot",
		Name: "console." + format,
		Data: img,
		Meta: map[string]any{"instance_id": t.id, "sha256": digest, "content_type": "image/" + format},
	})
	facts["screenshot_sha256"] = digest
	facts["screenshot_bytes"] = len(img)
	return facts, nil
}

// consoleScreenshot takes the screenshot and checks it is an image:
// "png" or "jpeg" (the format EC2 documents), by its magic number and a
// header that decodes.
func consoleScreenshot(ctx context.Context, client *ec2.Client, id string) ([]byte, string, error) {
	out, err := client.GetConsoleScreenshot(ctx, &ec2.GetConsoleScreenshotInput{InstanceId: aws.String(id)})
	if err != nil {
		return nil, "", fmt.Errorf("taking a screenshot of %s: %w", id, err)
	}
	data := aws.ToString(out.ImageData)
	if base64.StdEncoding.DecodedLen(len(data)) > screenshotMax {
		return nil, "", fmt.Errorf("screenshot of %s: larger than %d bytes", id, screenshotMax)
	}
	img, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return nil, "", fmt.Errorf("screenshot of %s: not base64: %w", id, err)
	}
	format, err := screenshotFormat(img)
	if err != nil {
		return nil, "", fmt.Errorf("screenshot of %s: %w", id, err)
	}
	return img, format, nil
}

// screenshotError is the screenshot_error fact: an AWS error as its code
// and message ("UnsupportedOperation: …"), which policies can match, else
// the error itself.
func screenshotError(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return fmt.Sprintf("taking a screenshot: %s: %s", ae.ErrorCode(), ae.ErrorMessage())
	}
	return err.Error()
}

var (
	pngMagic  = []byte("\x89PNG\r\n\x1a\n")
	jpegMagic = []byte{0xff, 0xd8, 0xff}
)

// screenshotFormat names an image's format after checking its header
// decodes; anything else is an error.
func screenshotFormat(img []byte) (string, error) {
	var (
		format string
		decode func([]byte) (image.Config, error)
	)
	switch {
	case len(img) == 0:
		return "", errors.New("empty image")
	case bytes.HasPrefix(img, pngMagic):
		format = "png"
		decode = func(b []byte) (image.Config, error) { return png.DecodeConfig(bytes.NewReader(b)) }
	case bytes.HasPrefix(img, jpegMagic):
		format = "jpeg"
		decode = func(b []byte) (image.Config, error) { return jpeg.DecodeConfig(bytes.NewReader(b)) }
	default:
		return "", errors.New("not a PNG or JPEG image")
	}
	cfg, err := decode(img)
	if err != nil {
		return "", fmt.Errorf("corrupt %s image: %w", strings.ToUpper(format), err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return "", fmt.Errorf("%s image of %dx%d pixels", strings.ToUpper(format), cfg.Width, cfg.Height)
	}
	return format, nil
}

// consoleText makes console bytes safe to keep as a fact and show in a
// report: terminal escape sequences (colours, cursor moves) and control
// characters other than tab and newline are dropped, invalid UTF-8 becomes
// U+FFFD, and only the last max bytes are kept, cut at a line start when
// one is near. truncated says the text is not the whole console: it was
// cut here, or EC2 served only its last 64 KiB.
func consoleText(raw []byte, max int) (text string, truncated bool) {
	truncated = len(raw) >= consoleOutputMax
	var b strings.Builder
	b.Grow(min(len(raw), max+max/4))
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == 0x1b: // ESC: skip a CSI sequence, ESC [ params… final
			i++
			if i < len(raw) && raw[i] == '[' {
				i++
				for i < len(raw) && raw[i] >= 0x20 && raw[i] <= 0x3f {
					i++
				}
				if i < len(raw) && raw[i] >= 0x40 && raw[i] <= 0x7e {
					i++
				}
			}
			continue
		case c == '\t' || c == '\n':
			b.WriteByte(c)
			i++
			continue
		case c < 0x20 || c == 0x7f: // NUL, CR, BEL, backspace …
			i++
			continue
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(raw[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			b.WriteRune(utf8.RuneError)
		case r >= 0x80 && r <= 0x9f:
			// C1 controls, dropped as C0 ones are
		default:
			b.Write(raw[i : i+size])
		}
		i += size
	}
	text = b.String()
	if len(text) <= max {
		return text, truncated
	}
	cut := len(text) - max
	for cut < len(text) && !utf8.RuneStart(text[cut]) {
		cut++
	}
	// Start at a whole line unless that loses more than a line's worth.
	if nl := strings.IndexByte(text[cut:], '\n'); nl >= 0 && nl < 1024 {
		cut += nl + 1
	}
	return text[cut:], true
}
