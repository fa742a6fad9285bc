package mask

import "testing"

func TestURL(t *testing.T) {
	tests := []struct{ name, raw, want string }{
		{"plain", "http://10.0.0.1:8000/v1", "http://10.0.0.1:8000/v1"},
		{"user and password", "http://user:hunter2@b:8000/v1", "http://****@b:8000/v1"},
		{"token as user", "https://tok@host", "https://****@host"},
		{"empty password", "redis://:pw@redis:6379/0", "redis://****@redis:6379/0"},
		{"sentinel password in the query", "redis+sentinel://127.0.0.1:26379?master_name=mymaster&password=SENTQ-SECRET-4444",
			"redis+sentinel://127.0.0.1:26379?master_name=mymaster&password=****"},
		{"both", "rediss+sentinel://u:p@s1:26379?sentinel_password=S1&addr=s2:26379&Password=S2",
			"rediss+sentinel://****@s1:26379?sentinel_password=****&addr=s2:26379&Password=****"},
		{"gemini key", "http://127.0.0.1:18009/?key=QUERYKEY-SECRET-2121", "http://127.0.0.1:18009/?key=****"},
		{"case and encoding", "http://h/?API%5FKEY=x&Token=y&user=alice&username=bob", "http://h/?API%5FKEY=****&Token=****&user=alice&username=bob"},
		{"suffixes", "http://h/?client_secret=a&x_auth_token=b&my_key=c&monkey=d", "http://h/?client_secret=****&x_auth_token=****&my_key=****&monkey=d"},
		{"signed URL", "https://b.s3/o?X-Amz-Signature=abc&X-Amz-Credential=AK&sig=z", "https://b.s3/o?X-Amz-Signature=****&X-Amz-Credential=****&sig=****"},
		{"fragment", "http://h/#access_token=abc&state=s", "http://h/#access_token=****&state=s"},
		{"empty value kept", "http://h/?key=&password", "http://h/?key=&password"},
		{"at sign in the query", "http://h/?email=a@b&key=K", "http://h/?email=a@b&key=****"},
		{"unparsable password", "http://admin:pa/ss:pw@host:8000", "http://****@host:8000"},
		{"unparsable with at sign in the query", "http://h:80x/?e=a@b&key=K", "http://****@b&key=****"},
		{"no scheme", "admin:pw@host:8000", "****@host:8000"},
		{"unix socket", "unix:///run/redis.sock?db=1&password=pw", "unix:///run/redis.sock?db=1&password=****"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := URL(tt.raw); got != tt.want {
				t.Errorf("URL(%q) = %q, want %q", tt.raw, got, tt.want)
			}
		})
	}
}

func TestSecretParam(t *testing.T) {
	for _, name := range []string{"password", "sentinel_password", "pass", "pwd", "token", "key", "api_key", "apikey",
		"access_token", "secret", "sig", "signature", "PASSWORD", "Api_Key", "api%5Fkey"} {
		if !SecretParam(name) {
			t.Errorf("SecretParam(%q) = false, want true", name)
		}
	}
	for _, name := range []string{"username", "user", "master_name", "addr", "db", "dial_timeout", "keys", "monkey", "protocol"} {
		if SecretParam(name) {
			t.Errorf("SecretParam(%q) = true, want false", name)
		}
	}
}
