# The drachtio module's https:// request handlers (issue 21, point 8):
# the routing service asked over TLS (libevent's bufferevent_openssl
# under evhttp), its certificate checked against http_ca (a throwaway CA
# made here with openssl) or the system's CAs, for the URL's host; a
# certificate refused, or one for another name, is a failure: the
# fallback.  http_verify: false skips the check.  The service is node's
# https server (t/drachtio/srv_app.js https).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use Socket qw(pack_sockaddr_in inet_aton);
use SipTest;
use NodeApp;

node_bin();
my $mods = module_dir();
my $dir = tmpdir();

# --- certificates: a CA, a service certificate for 127.0.0.1 it signed, one for "localhost" only
sub ossl { my $out = `openssl @_ 2>&1`; die "openssl @_: $out" if $?; }
ossl("req -x509 -newkey rsa:2048 -nodes -keyout $dir/ca.key -out $dir/ca.pem -days 2 -subj /CN=sipchain-test-ca "
   . "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign");
for my $c ([ 'ip', 'IP:127.0.0.1' ], [ 'name', 'DNS:localhost' ]) {
    my ($n, $san) = @$c;
    ossl("req -newkey rsa:2048 -nodes -keyout $dir/$n.key -out $dir/$n.csr -subj /CN=routing-$n");
    write_file("$n.ext", "subjectAltName=$san\n");
    ossl("x509 -req -in $dir/$n.csr -CA $dir/ca.pem -CAkey $dir/ca.key -CAcreateserial -out $dir/$n.pem -days 2 -extfile $dir/$n.ext");
}

# --- the routing services -------------------------------------------------------------
sub app_start { my ($name, @args) = @_; return node_app($name, script => 'srv_app.js', args => \@args, ready => qr/^LISTENING/m) }
my ($sip, $sname) = (free_port(), free_port());
app_start('ip', 'https', $sip, "$dir/ip.key", "$dir/ip.pem");
app_start('name', 'https', $sname, "$dir/name.key", "$dir/name.pem");

my ($u, $up) = udp_peer();
my $reqs = 0;
sub request {
    my ($port, $method, $user) = @_;
    my $n = ++$reqs . "x$$";
    $u->send("$method sip:$user\@127.0.0.1:$port SIP/2.0\r\n"
           . "Via: SIP/2.0/UDP 127.0.0.1:$up;branch=z9hG4bK-$n;rport\r\nMax-Forwards: 70\r\n"
           . "From: <sip:alice\@x>;tag=f$n\r\nTo: <sip:$user\@x>\r\nCall-ID: $method-$user-$n\r\n"
           . "CSeq: 1 $method\r\nContent-Length: 0\r\n\r\n", 0, pack_sockaddr_in($port, inet_aton('127.0.0.1')));
    my $end = time + 5;
    while ((my $l = $end - time) > 0) {
        my $m = recv_msg($u, $l) // return undef;
        return $m if sip_status($m) ne 'none' && sip_status($m) >= 200;
    }
    return undef;
}
sub reason { my ($r) = @_; return defined $r && $r =~ /^SIP\/2\.0 (\d+ [^\r]*)/ ? $1 : 'none' }
sub server {
    my ($extra, @h) = @_;
    $extra = "    http_timeout: 3000\n$extra" unless $extra =~ /http_timeout/;
    my $port = free_port();
    my $hs = join '', map { "      - { method: $_->[0], url: \"$_->[1]\" }\n" } @h;
    my ($pid, undef, $log) = start_server(port => $port, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$port" ]
  log: { level: info }
modules_path: $mods
chain:
  - module: drachtio
    listen: "127.0.0.1:${\ free_port()}"
    secret: cymru
    http_fallback: 480
$extra    request_handlers:
$hs
Y
    return ($port, $pid, $log);
}

# --- config ------------------------------------------------------------------------------
my $cport = free_port();
my $f = write_file("bad-$cport.yaml", "server:\n  listen: [ \"udp:127.0.0.1:$cport\" ]\nmodules_path: $mods\n"
                 . "chain:\n  - module: drachtio\n    secret: x\n    listen: \"127.0.0.1:$cport\"\n"
                 . "    http_ca: $dir/no-such-ca.pem\n    request_handlers: [ { url: \"https://127.0.0.1:$sip/\" } ]\n");
like(`${\ sipchain()} -t -c $f 2>&1`, qr/:\d+:\d+: drachtio: https request handlers: cannot load CA.*no-such-ca\.pem/,
     'config refused: an http_ca that cannot be read');
$f = write_file("bad2-$cport.yaml", "server:\n  listen: [ \"udp:127.0.0.1:$cport\" ]\nmodules_path: $mods\n"
              . "chain:\n  - module: drachtio\n    secret: x\n    listen: \"127.0.0.1:$cport\"\n"
              . "    http_verify: maybe\n    request_handlers: [ { url: \"https://127.0.0.1:$sip/\" } ]\n");
like(`${\ sipchain()} -t -c $f 2>&1`, qr/:\d+:\d+: .*(bool|true|false)/i, 'config refused: http_verify not a boolean');

# --- http_ca: the test CA ---------------------------------------------------------------------
my ($p1, $pid1, $log1) = server("    http_ca: $dir/ca.pem\n",
                                [ 'MESSAGE', "https://127.0.0.1:$sip/route" ], [ 'INFO', "https://127.0.0.1:$sname/" ],
                                [ 'OPTIONS', "https://localhost:$sname/named" ]);
my $r = request($p1, 'MESSAGE', 'reject');
is(reason($r), '486 Busy By Routing', 'https handler, certificate from http_ca for 127.0.0.1: its answer applies');
like(app_log('ip'), qr{^HTTP GET /route/\?method=MESSAGE&\S+ .* sni= host=127\.0\.0\.1:$sip$}m,
     '... asked over TLS, GET with the query string (no SNI for an address, RFC 6066 §3)');
$r = request($p1, 'OPTIONS', 'reject');
is(reason($r), '486 Busy By Routing', 'https://localhost: a certificate for DNS:localhost from http_ca: its answer applies');
like(app_log('name'), qr{^HTTP GET /named/\?method=OPTIONS&\S+ .* sni=localhost host=localhost:$sname$}m,
     '... SNI localhost, Host localhost:PORT');
$r = request($p1, 'INFO', 'reject');
like(reason($r), qr/^480 Routing service failed \(TLS: certificate refused \(IP address mismatch\)\)$/,
     'a certificate from the CA for another name (localhost, not 127.0.0.1): refused, the fallback');
like(wait_log($log1, qr/IP address mismatch/), qr/request handler https:\S+: TLS: certificate refused \(IP address mismatch\); answered by http_fallback/,
     '... logged');
unlike(app_log('name'), qr/^HTTP GET \/\?/m, '... and the service was never asked');
is(stop_server($pid1), 0, 'server 1 stops cleanly');

# --- no http_ca: the system's CAs, which do not know the test CA -------------------------------------
my ($p2, $pid2, $log2) = server('', [ 'MESSAGE', "https://127.0.0.1:$sip/sys" ]);
$r = request($p2, 'MESSAGE', 'reject');
like(reason($r), qr/^480 Routing service failed \(TLS: certificate refused \(.*(self[- ]signed|local issuer).*\)\)$/,
     'no http_ca: the system CAs do not know it: refused, the fallback');
unlike(app_log('ip'), qr{^HTTP GET /sys/}m, '... the service not asked');
is(stop_server($pid2), 0, 'server 2 stops cleanly');

# --- http_verify: false: no check at all (unsafe) -------------------------------------------------
my ($p3, $pid3, $log3) = server("    http_verify: false\n",
                                [ 'MESSAGE', "https://127.0.0.1:$sname/nover" ]);
$r = request($p3, 'MESSAGE', 'reject');
is(reason($r), '486 Busy By Routing', 'http_verify: false: a certificate for another name, unknown CA: used anyway');
like(app_log('name'), qr{^HTTP GET /nover/\?method=MESSAGE}m, '... the service asked');
is(stop_server($pid3), 0, 'server 3 stops cleanly');
# --- a service that takes the connection and never says a word: http_timeout covers the handshake
my $silent = IO::Socket::INET->new(Listen => 5, LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp', ReuseAddr => 1) or die;
my ($p4, $pid4, $log4) = server("    http_timeout: 500\n    http_ca: $dir/ca.pem\n",
                                [ 'MESSAGE', "https://127.0.0.1:${\ $silent->sockport}/" ]);
my $t0 = time;
$r = request($p4, 'MESSAGE', 'reject');
my $took = time - $t0;
like(reason($r), qr/^480 Routing service failed \(timed out\)$/, 'a TLS handshake never answered: the fallback after http_timeout');
ok($took >= 0.4 && $took < 3, sprintf('... after %.1f s (http_timeout 0.5 s)', $took));
is(stop_server($pid4), 0, 'server 4 stops cleanly');
for my $l ($log1, $log2, $log3, $log4) {
    my $t = do { local (@ARGV, $/) = $l; <> };
    unlike($t, qr/sanitizer|leak/i, 'no sanitizer report');
}
done_testing();
