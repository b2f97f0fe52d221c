# The module chain end to end (DESIGN §4): order, methods filter, the same
# module twice, async continuation, error middleware, the double-answer
# guard, the end-of-chain default, ABI refusal, stop with requests waiting.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time);
use SipTest;
use Socket qw(pack_sockaddr_in inet_aton);

my $build = $ENV{SC_BUILD} // 'objs';
my $mods = module_dir();

sub server {
    my ($chain, $limits) = @_;
    my $port = free_port();
    return start_server(port => $port, yaml => "server:\n  listen: [ \"udp:127.0.0.1:$port\" ]\n"
                                             . "  log: { level: debug }\n" . ($limits ? "  limits: $limits\n" : "")
                                             . "modules_path: $mods\nchain:\n$chain");
}

my $c = udp_client();
my $me = $c->sockport;
sub req {
    my ($method, $ruri) = @_;
    return "$method $ruri SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-" . int(rand(1e9)) . ";rport\r\n"
         . "Max-Forwards: 70\r\nTo: <$ruri>\r\nFrom: <sip:t\@127.0.0.1>;tag=1\r\n"
         . "Call-ID: " . int(rand(1e9)) . "\@chain\r\nCSeq: 1 $method\r\nContent-Length: 0\r\n\r\n";
}
sub status_of { my ($r) = @_; return defined $r && $r =~ m{^SIP/2\.0 (\d{3}) ([^\r\n]*)} ? "$1 $2" : 'none' }
sub log_of { my ($log) = @_; local (@ARGV, $/) = $log; return <> }

# order, methods filter, one module twice with different config, options
my ($pid, $port, $log) = server(<<'C');
  - module: t_mark
    mark: A
  - module: t_mark
    mark: B
    methods: [ INFO ]
  - module: options
    allow: "OPTIONS, INFO"
    domains: [ example.com ]
C
my $r = send_recv($c, $port, req('OPTIONS', 'sip:127.0.0.1'));
is(status_of($r), '200 OK', 'options answers OPTIONS to the server itself');
like($r, qr{^X-Mark: A\r$}m, 'the first link ran');
unlike($r, qr{^X-Mark: B}m, 'the second instance is skipped: its methods filter is INFO');
like($r, qr{^Allow: OPTIONS, INFO\r$}m, 'Allow from config');
like($r, qr{^Accept: application/sdp\r$}m, 'Accept');
is(status_of(send_recv($c, $port, req('OPTIONS', 'sip:alice@example.com'))), '200 OK', 'a listed domain is ours');
is(status_of(send_recv($c, $port, req('OPTIONS', 'sip:alice@elsewhere.org'))), '404 Not Found',
   'OPTIONS for someone else passes on, to the end of the chain (404)');
is(status_of(send_recv($c, $port, req('INFO', 'sip:127.0.0.1'))), '404 Not Found', 'INFO: end-of-chain default');
is(stop_server($pid), 0, 'stopped');

# async continuation from a timer
($pid, $port, $log) = server(<<'C');
  - module: t_async
    delay_ms: 300
  - module: options
C
my $t0 = time;
$r = send_recv($c, $port, req('OPTIONS', 'sip:127.0.0.1'), 3);
is(status_of($r), '200 OK', 'a handler continuing from a timer reaches the next link');
cmp_ok(time - $t0, '>=', 0.29, 'after the handler\'s delay');
# several in flight at once
my $to = pack_sockaddr_in($port, inet_aton('127.0.0.1'));
$c->send(req('OPTIONS', 'sip:127.0.0.1'), 0, $to) for 1 .. 5;
my $n = 0;
$n++ while defined recv_msg($c, 2) && $n < 5;
is($n, 5, 'five requests held at once are all answered');
is(stop_server($pid), 0, 'stopped');

# graceful stop: a request in flight finishes; past stop_timeout it gets 503
($pid, $port, $log) = server("  - module: t_async\n    delay_ms: 1500\n  - module: options\n", "{ stop_timeout: 5 }");
my $dest = pack_sockaddr_in($port, inet_aton('127.0.0.1'));
(my $first = req('OPTIONS', 'sip:127.0.0.1')) =~ s/^Call-ID: .*$/Call-ID: inflight\r/m;
(my $late = req('OPTIONS', 'sip:127.0.0.1')) =~ s/^Call-ID: .*$/Call-ID: late\r/m;
$c->send($first, 0, $dest);
select(undef, undef, undef, 0.1);
kill 'TERM', $pid;
my $until = time + 5;       # the stop has begun when the server says so
select(undef, undef, undef, 0.05) until log_of($log) =~ /stopping \(1 request/ || time > $until;
$c->send($late, 0, $dest);
my @got;
while (defined(my $m = recv_msg($c, 3))) { push @got, $m }
is(scalar(grep { /^Call-ID: late\r$/m } @got), 0, 'while stopping, no new request is read');
is(scalar(@got), 1, 'one answer only');
like($got[0] // '', qr{^SIP/2\.0 200 OK.*^Call-ID: inflight\r$}ms, 'SIGTERM lets the request in flight finish');
is(stop_server($pid), 0, 'then the server exits 0');

($pid, $port, $log) = server("  - module: t_async\n    delay_ms: 5000\n", "{ stop_timeout: 1 }");
$c->send(req('OPTIONS', 'sip:127.0.0.1'), 0, pack_sockaddr_in($port, inet_aton('127.0.0.1')));
select(undef, undef, undef, 0.3);
kill 'TERM', $pid;
is(status_of(recv_msg($c, 3)), '503 Server Stopping', 'a request still waiting at the stop timeout gets 503');
is(stop_server($pid), 0, 'and the server exits 0 (nothing leaked under valgrind)');
like(log_of($log), qr/stop timeout: 1 request\(s\) still waiting get 503/, 'logged');

# error middleware
($pid, $port, $log) = server(<<'C');
  - module: t_fail
  - module: t_mark
    mark: skipped
  - module: t_catch
C
$r = send_recv($c, $port, req('OPTIONS', 'sip:127.0.0.1'));
is(status_of($r), '503 caught: backend down', 'sc_fail reaches the next error handler, skipping ordinary links');
is(stop_server($pid), 0, 'stopped');
($pid, $port, $log) = server("  - module: t_fail\n");
is(status_of(send_recv($c, $port, req('OPTIONS', 'sip:127.0.0.1'))), '503 backend down',
   'with no error handler the failure is the answer');
is(stop_server($pid), 0, 'stopped');

# double answer
($pid, $port, $log) = server("  - module: t_twice\n  - module: options\n");
is(status_of(send_recv($c, $port, req('OPTIONS', 'sip:127.0.0.1'))), '200 First', 'the first answer goes out');
is(recv_msg($c, 0.5), undef, 'the second does not');
is(stop_server($pid), 0, 'stopped');
like(log_of($log), qr/t_twice: a second final answer after the final answer: ignored/, 'double answer logged');
like(log_of($log), qr/t_twice: sc_next after the final answer: ignored/, 'sc_next after the answer logged');

# loading: ABI refusal, not a module, module config errors (via -t)
sub check {
    my ($chain) = @_;
    my $path = write_file('chain' . int(rand(1e9)) . '.yaml',
                          "server:\n  listen: [ \"udp:127.0.0.1:5060\" ]\nmodules_path: $mods\nchain:\n$chain");
    my $out = `@{[sipchain()]} -t -c $path 2>&1`;
    return ($? >> 8, $out);
}
my ($rc, $out) = check("  - module: t_badabi\n");
is($rc, 1, 'a module built for another ABI is refused');
# the ABI this tree builds (include/sipchain.h); t_badabi claims the next
my ($abi) = do { local (@ARGV, $/) = 'include/sipchain.h'; <> } =~ /^#define SC_ABI_VERSION (\d+)/m;
my $bad = $abi + 1;
like($out, qr{:5:13: module "t_badabi" \(\S+t_badabi\.so\) was built for module ABI $bad \("sipchain-abi/999 ptr8 size8"\); this sipchain has ABI $abi \("sipchain-abi/$abi ptr8 size8"\)},
     'with a sentence naming both ABIs');
($rc, $out) = check("  - module: t_nosym\n");
like($out, qr{t_nosym\.so is not a sipchain module}, 'a shared object without sc_module is refused');
($rc, $out) = check("  - module: options\n    allw: \"x\"\n");
like($out, qr{:6:5: unknown key "allw"}, 'a module validates its own keys, with file:line:col');
($rc, $out) = check("  - module: options\n    methods: OPTIONS\n");
like($out, qr{:6:14: "methods" must be a non-empty list}, 'methods must be a list');
($rc, $out) = check("  - module: ../options\n");
like($out, qr{module name "\.\./options" may hold}, 'a module name cannot leave modules_path');
($rc, $out) = check("  - module: options\n  - module: options\n    domains: [ a.example ]\n");
is($rc, 0, 'the same module twice, with different config, is valid');
done_testing();
