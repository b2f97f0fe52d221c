# TLS listeners: a request over TLS is answered over the same connection;
# TLS 1.2 is the minimum; with a CA and verify_client, a client without a
# certificate from that CA is refused.  Peers are openssl s_client.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use SipTest;

my $d = tmpdir();
sub sh { my ($cmd) = @_; system("$cmd >/dev/null 2>&1") == 0 or die "failed: $cmd" }
# a CA, a server certificate and a client certificate from it
sh("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca -keyout $d/ca.key -out $d/ca.pem");
for my $who (qw(server client)) {
    sh("openssl req -newkey rsa:2048 -nodes -subj /CN=$who -keyout $d/$who.key -out $d/$who.csr");
    sh("openssl x509 -req -in $d/$who.csr -CA $d/ca.pem -CAkey $d/ca.key -CAcreateserial -days 2 -out $d/$who.pem");
}

my ($p1, $p2) = (free_port(), free_port());
my ($pid) = start_server(port => $p1, yaml => <<"Y");
server:
  listen:
    - { url: "tls:127.0.0.1:$p1", cert: "$d/server.pem", key: "$d/server.key" }
    - { url: "tls:127.0.0.1:$p2", cert: "$d/server.pem", key: "$d/server.key", ca: "$d/ca.pem", verify_client: true }
  log: { level: debug }
Y

my $req = "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS client.invalid;branch=z9hG4bK-tls1\r\n"
        . "Max-Forwards: 70\r\nTo: <sip:127.0.0.1>\r\nFrom: <sip:t\@127.0.0.1>;tag=1\r\n"
        . "Call-ID: tls1\@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
my $reqfile = write_file('tls-req.txt', $req);

# s_client sends the request, then waits (bounded) for the answer
sub s_client {
    my ($port, $extra) = @_;
    return `(cat $reqfile; sleep 1) | timeout 10 openssl s_client -connect 127.0.0.1:$port -quiet $extra 2>&1`;
}

my $out = s_client($p1, "-CAfile $d/ca.pem");
like($out, qr{^SIP/2\.0 404 Not Found\r$}m, 'a request over TLS is answered over the connection');
like($out, qr{^Via: SIP/2\.0/TLS client\.invalid;branch=z9hG4bK-tls1;received=127\.0\.0\.1\r$}m, 'with received stamped');

$out = s_client($p1, "-tls1_1 -cipher DEFAULT\@SECLEVEL=0");
unlike($out, qr{^SIP/2\.0 }m, 'a TLS 1.1 client is refused (TLS 1.2 minimum)');

$out = s_client($p2, "-CAfile $d/ca.pem");
unlike($out, qr{^SIP/2\.0 }m, 'verify_client: a client without a certificate is refused');
$out = s_client($p2, "-CAfile $d/ca.pem -cert $d/client.pem -key $d/client.key");
like($out, qr{^SIP/2\.0 404 }m, 'and one with a certificate from the CA is served');

is(stop_server($pid), 0, 'stopped');
done_testing();
