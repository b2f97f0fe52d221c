# The metrics endpoint (server.metrics) scraped around real traffic: the
# counters move by exactly what was sent (requests and responses by
# method and class, parse errors by reason, retransmissions, REGISTERs,
# failed authentications, calls by CDR outcome, module handling time),
# gauges follow what is in flight (transactions, dialogs, bindings);
# /healthz says 503 once a stop begins; /status names the listeners, the
# chain's modules and versions, the config file and its reloads.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use HTTP::Tiny;
use JSON::PP;
use Socket ();
use Digest::MD5 qw(md5_hex);
use SipTest;

my ($sipp) = grep { -x } map { "$_/sipp" } split /:/, $ENV{PATH};
BAIL_OUT('sipp not found: run scripts/install-deps.sh') unless $sipp;
my $mods = module_dir();
my $dir = tmpdir();
my $port = free_port();
my $mport = free_port();
my $users = write_file('users.yaml', "alice: { ha1: \"" . md5_hex('alice:example.com:pw') . "\" }\n");
my $yaml = <<Y;
server:
  listen: [ "udp:127.0.0.1:$port" ]
  metrics: { listen: "127.0.0.1:$mport" }
  timers: { t1: 100, t2: 400, t4: 500 }
  limits: { stop_timeout: 5 }
modules_path: $mods
chain:
  - module: options
  - module: digest-auth
    realm: example.com
    users: $users
    methods: [ REGISTER ]
  - module: registrar
    methods: [ REGISTER ]
    domains: [ example.com ]
  - module: t_dialog
Y
my ($pid, undef, $log) = start_server(port => $port, yaml => $yaml);
my $http = HTTP::Tiny->new(timeout => 5);
sub get { my $r = $http->get("http://127.0.0.1:$mport$_[0]"); return $r }
sub scrape {
    my $r = get('/metrics');
    my %m;
    for (split /\n/, $r->{content} // '') {
        next if /^#/;
        $m{$1} = $2 if /^(\S+(?:\{.*\})?) (\S+)$/;
    }
    return \%m;
}
sub delta { my ($a, $b, $k) = @_; return ($b->{$k} // 0) - ($a->{$k} // 0) }

my $r = get('/metrics');
is($r->{status}, 200, '/metrics answers 200');
like($r->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4}, 'in the Prometheus text format');
like($r->{content}, qr/^# TYPE sipchain_module_handle_seconds histogram$/m, 'with HELP/TYPE lines');
my $before = scrape();

# OPTIONS x 10 from sipp, answered by the options module
is(system("cd $dir && $sipp -sf $ENV{PWD}/t/sipp/options200.xml -m 10 -r 50 -i 127.0.0.1 -p " . free_port()
          . " -timeout 20s -timeout_error -nostdin 127.0.0.1:$port >opt.out 2>&1") >> 8, 0, '10 OPTIONS answered');

# a REGISTER challenged, one with a wrong password, one right (sent twice:
# the second is a retransmission, absorbed)
my $c = udp_client();
my $me = $c->sockport;
sub register {
    my ($n, $auth) = @_;
    return "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-mreg$n;rport\r\n"
         . "Max-Forwards: 70\r\nTo: <sip:alice\@example.com>\r\nFrom: <sip:alice\@example.com>;tag=m$n\r\n"
         . "Call-ID: mreg\r\nCSeq: $n REGISTER\r\nContact: <sip:alice\@127.0.0.1:$me>\r\n"
         . ($auth ? "Authorization: $auth\r\n" : '') . "Content-Length: 0\r\n\r\n";
}
my $ch = send_recv($c, $port, register(1));
like($ch // '', qr/^SIP\/2\.0 401/, 'REGISTER challenged');
my ($nonce) = ($ch // '') =~ /nonce="([^"]+)", opaque="[^"]+", algorithm=MD5/;
my ($opaque) = ($ch // '') =~ /opaque="([^"]+)"/;
sub creds { my ($pw, $nc) = @_;
    my $resp = md5_hex(md5_hex("alice:example.com:$pw") . ":$nonce:$nc:cn:auth:" . md5_hex('REGISTER:sip:example.com'));
    return "Digest username=\"alice\", realm=\"example.com\", nonce=\"$nonce\", uri=\"sip:example.com\", response=\"$resp\", algorithm=MD5, opaque=\"$opaque\", qop=auth, nc=$nc, cnonce=\"cn\"" }
like(send_recv($c, $port, register(2, creds('wrong', '00000001'))) // '', qr/^SIP\/2\.0 401/, 'a wrong password: 401 again');
my $ok = register(3, creds('pw', '00000002'));
like(send_recv($c, $port, $ok) // '', qr/^SIP\/2\.0 200/, 'the right one: 200');
like(send_recv($c, $port, $ok) // '', qr/^SIP\/2\.0 200/, 'its retransmission: the 200 again');

# a request that does not parse
like(send_recv($c, $port, "OPTIONS sip:x\@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-bad;rport\r\n"
               . "Max-Forwards: 70\r\nTo: <sip:x\@127.0.0.1>\r\nFrom: <sip:y\@127.0.0.1>;tag=1\r\nCall-ID: bad\r\n"
               . "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n") // '', qr/^SIP\/2\.0 400 CSeq method does not match/, 'a bad CSeq: 400');

# 5 calls answered and hung up
my $csv = write_file('calls.csv', "SEQUENTIAL\nuas;-;0;\n");
is(system("cd $dir && $sipp -sf $ENV{PWD}/t/sipp/dialog_uac.xml -inf $csv -m 5 -r 20 -i 127.0.0.1 -p " . free_port()
          . " -timeout 20s -timeout_error -nostdin -s service 127.0.0.1:$port >calls.out 2>&1") >> 8, 0, '5 calls');
sleep 0.3;
my $after = scrape();
is(delta($before, $after, 'sipchain_sip_requests_total{direction="received",method="OPTIONS"}'), 10, 'OPTIONS received: 10 (the unparsable one is a parse error)');
is(delta($before, $after, 'sipchain_sip_responses_total{direction="sent",method="OPTIONS",class="2xx"}'), 10, 'OPTIONS answered 2xx: 10');
is(delta($before, $after, 'sipchain_sip_parse_errors_total{status="400",reason="CSeq method does not match request method"}'), 1,
   'parse errors by status and reason');
is(delta($before, $after, 'sipchain_sip_requests_total{direction="received",method="REGISTER"}'), 3, 'REGISTER received: 3 (the retransmission not counted)');
is(delta($before, $after, 'sipchain_sip_retransmissions_total{direction="received"}'), 1, 'one retransmission received');
ok(delta($before, $after, 'sipchain_sip_retransmissions_total{direction="sent"}') >= 1, 'and the answer retransmitted for it');
is(delta($before, $after, 'sipchain_sip_responses_total{direction="sent",method="REGISTER",class="4xx"}'), 2, 'REGISTER 4xx: the challenge and the refusal');
is(delta($before, $after, 'sipchain_auth_challenges_total{link="2"}'), 2, 'digest-auth: 2 challenges');
is(delta($before, $after, 'sipchain_auth_failures_total{reason="wrong_credentials",link="2"}'), 1, 'one failed authentication (wrong credentials)');
is(delta($before, $after, 'sipchain_auth_successes_total{link="2"}'), 1, 'one success');
is($after->{'sipchain_registrar_bindings{link="3"}'}, 1, 'registrar: 1 binding');
is($after->{'sipchain_registrar_aors{link="3"}'}, 1, 'registrar: 1 AOR');
is(delta($before, $after, 'sipchain_sip_requests_total{direction="received",method="INVITE"}'), 5, 'INVITE received: 5');
is(delta($before, $after, 'sipchain_sip_requests_total{direction="received",method="BYE"}'), 5, 'BYE received: 5');
is(delta($before, $after, 'sipchain_sip_responses_total{direction="sent",method="INVITE",class="2xx"}'), 5, 'INVITE answered 2xx: 5');
is(delta($before, $after, 'sipchain_calls_total{reason="normal-release"}'), 5, 'calls by CDR outcome: 5 normal-release');
is(delta($before, $after, 'sipchain_module_handle_seconds_count{module="options",link="1"}'), 18,
   'options timed for every new request: 10 OPTIONS, 3 REGISTER, 5 INVITE');
is(delta($before, $after, 'sipchain_module_handle_seconds_count{module="registrar",link="3"}'), 1, 'registrar: the one authenticated REGISTER');
is(delta($before, $after, 'sipchain_module_handle_seconds_count{module="t_dialog",link="4"}'), 5, 't_dialog: the 5 INVITEs');
is($after->{'sipchain_module_handle_seconds_bucket{module="t_dialog",link="4",le="+Inf"}'},
   $after->{'sipchain_module_handle_seconds_count{module="t_dialog",link="4"}'}, 'histogram: the +Inf bucket is the count');

# a call: its INVITE transaction in flight while it rings, its dialog once answered
my $inv = "INVITE sip:svc\@127.0.0.1:$port SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-ring;rport\r\n"
        . "Max-Forwards: 70\r\nTo: <sip:svc\@127.0.0.1>\r\nFrom: <sip:a\@127.0.0.1>;tag=ring\r\nCall-ID: ring\r\n"
        . "CSeq: 1 INVITE\r\nContact: <sip:a\@127.0.0.1:$me>\r\nX-Mode: uas\r\nX-Early: 800\r\nContent-Length: 0\r\n\r\n";
my $idle = scrape();
send_recv($c, $port, $inv, 0.3);
my $ring = scrape();
ok(($ring->{sipchain_transactions} // 0) >= 1, "ringing: its transaction in flight ($ring->{sipchain_transactions} in all)");
is($ring->{sipchain_dialogs} - $idle->{sipchain_dialogs}, 0, 'and no dialog yet');
my $ans;
my $until = time + 3;
while (time < $until) { my $m = recv_msg($c, 0.5) // next; if ($m =~ /^SIP\/2\.0 200/ && sip_header($m, 'Call-ID') eq 'ring') { $ans = $m; last } }
ok($ans, 'the call answered');
my ($tt) = ($ans // '') =~ /^To: [^\r]*tag=([\w-]+)/m;
(my $ack = $inv) =~ s/^INVITE /ACK /;
$ack =~ s/CSeq: 1 INVITE/CSeq: 1 ACK/;
$ack =~ s/^(To: [^\r]*)/$1;tag=$tt/m;
$c->send($ack, 0, Socket::pack_sockaddr_in($port, Socket::inet_aton('127.0.0.1')));
sleep 0.2;
my $up = scrape();
is($up->{sipchain_dialogs} - $idle->{sipchain_dialogs}, 1, 'answered: one more dialog');

# /status, and after a reload
kill 'HUP', $pid;
wait_log($log, qr/reloaded/);
$r = get('/status');
is($r->{status}, 200, '/status answers 200');
my $st = eval { decode_json($r->{content}) } // {};
is_deeply($st->{listeners}, [ "udp:127.0.0.1:$port" ], 'its listeners');
is(join(' ', map { "$_->{module}/$_->{version}" } @{ $st->{chain} // [] }), 'options/1.0 digest-auth/1.0 registrar/1.0 t_dialog/0',
   'the chain: modules and versions in order') or diag($r->{content});
like($st->{config}{file} // '', qr/sipchain-$port\.yaml$/, 'the config file');
is($st->{config}{reloads}, 1, 'one reload');
like($st->{config}{loaded} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'and when it was loaded');
ok(defined $st->{uptime_s} && $st->{version}, 'uptime and version');
is(get('/healthz')->{status}, 200, '/healthz: 200 while serving');
is(get('/nothing')->{status}, 404, 'another path: 404');

# a stop with the call up (its BYE goes to us, unanswered): /healthz turns 503
kill 'TERM', $pid;
sleep 0.3;
my $h = get('/healthz');
is("$h->{status} $h->{content}", "503 stopping\n", '/healthz: 503 once stopping');
is(stop_server($pid), 0, 'stopped');

# config errors
my $bad = write_file('bad.yaml', "server:\n  listen: [ \"udp:127.0.0.1:$port\" ]\n  metrics: { listen: \"nowhere\" }\n");
like(`${\ sipchain()} -t -c $bad 2>&1`, qr/bad\.yaml:3:22: metrics listen "nowhere": /, 'a bad metrics address: file:line:col');
done_testing();
