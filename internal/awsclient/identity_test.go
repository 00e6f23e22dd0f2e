package awsclient_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/cordonhq/cordon/internal/awsclient"
	"github.com/cordonhq/cordon/internal/awsemu"
	"github.com/cordonhq/cordon/internal/demo"
)

// TestCheckAccess asks the emulator who cordon is, through the real SDK,
// with the credentials and roles that work and those that cannot.
func TestCheckAccess(t *testing.T) {
	seed, err := demo.Fleet()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(awsemu.New(seed))
	defer srv.Close()
	stopped := httptest.NewServer(awsemu.New(seed))
	stopped.Close()

	demoKey := credentials.NewStaticCredentialsProvider(demo.CordonAccessKey, demo.CordonSecretKey, "")
	tests := []struct {
		name     string
		endpoint string
		creds    aws.CredentialsProvider
		role     string
		account  string
		wantARN  string
		wantErr  string
	}{
		{"the base identity", srv.URL, demoKey, "", "", "user/automation/cordon", ""},
		{"the responder role", srv.URL, demoKey, demo.ResponderRoleARN, demo.ProdAccount, "assumed-role/cordon-responder/cordon", ""},
		{"a role that does not exist", srv.URL, demoKey, "arn:aws:iam::{account}:role/nobody", demo.ProdAccount, "",
			"cannot call AWS in account 123456789012: AccessDenied: User: arn:aws:iam::999988887777:user/automation/cordon is not authorized to perform: sts:AssumeRole"},
		{"an account without the role", srv.URL, demoKey, demo.ResponderRoleARN, "210987654321", "", "cannot call AWS in account 210987654321: AccessDenied"},
		{"credentials of another account", srv.URL, demoKey, "", demo.ProdAccount, "",
			"cannot act in account 123456789012: the credentials are arn:aws:iam::999988887777:user/automation/cordon, of account 999988887777"},
		{"an unknown key", srv.URL, credentials.NewStaticCredentialsProvider("AKIAUNKNOWNKEY000001", "x", ""), "", "", "",
			"cannot call AWS with the configured credentials: InvalidClientTokenId: "},
		{"an endpoint that refuses connections", stopped.URL, demoKey, "", "", "", "connect: connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := awsclient.New(context.Background(), awsclient.Options{
				Region: demo.Region, Endpoint: tt.endpoint, AssumeRoleARN: tt.role, Credentials: tt.creds, MaxBackoff: 1,
			})
			if err != nil {
				t.Fatal(err)
			}
			id, err := f.CheckAccess(context.Background(), tt.account, demo.Region)
			if tt.wantErr == "" {
				if err != nil || !strings.Contains(id.ARN, tt.wantARN) {
					t.Fatalf("identity %+v, %v", id, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			if !awsclient.IsAccessError(err) {
				t.Errorf("%v is not an access error", err)
			}
			if strings.Contains(err.Error(), "RequestID") || strings.Contains(err.Error(), "operation error") {
				t.Errorf("the cause keeps the SDK's wrapping: %v", err)
			}
		})
	}
}

func TestCause(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{errors.New("operation error SSM: SendCommand, failed to refresh cached credentials, no EC2 IMDS role found"),
			"no AWS credentials: no EC2 IMDS role found"},
		{errors.New("plain"), "plain"},
	}
	for _, tt := range tests {
		if got := awsclient.Cause(tt.err); got != tt.want {
			t.Errorf("Cause(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
	if awsclient.IsAccessError(errors.New("instance i-1 is not managed by SSM")) {
		t.Error("an error of one call is an access error")
	}
}
