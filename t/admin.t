# The management API (server.admin) and sipchainctl, end to end: every
# command of the client against a running server — registrations listed,
# shown and deleted, a b2bua call listed and ended (BYE to both sides),
# a guard block listed and lifted, transactions, counters, reload (good
# and bad), the log level — the bearer token, bad HTTP requests, bad
# JSON, an unknown AOR, two links with one resource told apart by name;
# a unix socket; a routable address without a token refused by -t.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use HTTP::Tiny;
use JSON::PP;
use IO::Socket::INET;
use Socket qw(pack_sockaddr_in inet_aton);
use SipTest;

my $build = $ENV{SC_BUILD} // 'objs';
my $ctl = "$build/sipchainctl";
BAIL_OUT("$ctl not built") unless -x $ctl;
my $mods = module_dir();
my $dir = tmpdir();
my $port = free_port();
my $aport = free_port();
my $mport = free_port();
my $token = 'test-token-0123456789abcdef';
my $yaml = <<Y;
server:
  listen: [ "udp:127.0.0.1:$port" ]
  admin: { listen: "127.0.0.1:$aport", token: "$token" }
  metrics: { listen: "127.0.0.1:$mport" }
  timers: { t1: 100, t2: 400, t4: 500 }
  log: { level: info }
modules_path: $mods
chain:
  - module: guard
    name: edge
    block_time: 300
  - module: guard
    name: inner
  - module: registrar
    name: main
    methods: [ REGISTER ]
    domains: [ example.com ]
  - module: b2bua
    name: calls-out
    methods: [ INVITE ]
  - module: t_admin
Y
my ($pid, undef, $log) = start_server(port => $port, yaml => $yaml);
my $conf = "$dir/sipchain-$port.yaml";

# sipchainctl: its exit status, stdout and stderr
sub ctl {
    my (@args) = @_;
    my $cmd = join(' ', map { "'$_'" } $ctl, '-s', "127.0.0.1:$aport", '-t', $token, @args);
    my $out = `$cmd 2>$dir/ctl.err`;
    my $rc = $? >> 8;
    my $err = do { local (@ARGV, $/) = "$dir/ctl.err"; <> } // '';
    return ($rc, $out, $err);
}
sub ctl_json {
    my ($rc, $out, $err) = ctl('--json', @_);
    my $j = eval { decode_json($out) };
    return ($rc, $j, $err);
}
my $http = HTTP::Tiny->new(timeout => 5);
sub api {
    my ($method, $path, %o) = @_;
    my $r = $http->request($method, "http://127.0.0.1:$aport$path",
                           { headers => { ($o{token} // $token) ne '' ? (Authorization => 'Bearer ' . ($o{token} // $token)) : (),
                                          'Content-Type' => 'application/json' },
                             defined $o{body} ? (content => $o{body}) : () });
    my $j = eval { decode_json($r->{content}) };
    return ($r->{status}, $j, $r);
}

# --- the index: the core's resources and each link's, by name -------------
{
    my ($rc, $j) = ctl_json('resources');
    is($rc, 0, 'resources: exit 0');
    is_deeply($j->{core}, [qw(transactions counters dialogs reload log-level)], 'the core resources');
    is_deeply([ map { "$_->{name}=$_->{module}:" . join(',', @{ $_->{resources} }) } @{ $j->{links} } ],
              [ 'edge=guard:blocks', 'inner=guard:blocks', 'main=registrar:registrations',
                'calls-out=b2bua:calls', 't_admin=t_admin:echo' ], 'each link by name, with its module and resources');
    my $status = decode_json($http->get("http://127.0.0.1:$mport/status")->{content});
    is_deeply([ map { "$_->{link}:$_->{name}:$_->{module}" } @{ $status->{chain} } ],
              [ '1:edge:guard', '2:inner:guard', '3:main:registrar', '4:calls-out:b2bua', '5:t_admin:t_admin' ],
              '/status: each link\'s position, name and module');
    my ($rc2, $pretty) = ctl('resources');
    like($pretty, qr/^\{\n  "core": \[\n    "transactions",/, 'without --json: indented');
}

# --- authentication and bad requests --------------------------------------
{
    my ($st, $j, $r) = api('GET', '/v1', token => '');
    is($st, 401, 'no token: 401');
    like($j->{error} // '', qr/bearer token/, 'the error names the bearer token');
    like($r->{headers}{'www-authenticate'} // '', qr/^Bearer/, 'with WWW-Authenticate: Bearer');
    ($st) = api('GET', '/v1', token => 'test-token-0123456789abcdeX');
    is($st, 401, 'a wrong token: 401');
    my ($rc, undef, $err) = ctl('-t', 'nope-nope-nope-nope', 'txn');
    # (the second -t wins)
    is($rc, 1, 'sipchainctl with a wrong token: exit 1');
    like($err, qr/401: a bearer token is required/, 'and the server\'s sentence on stderr');
    ($st, $j) = api('GET', '/metrics');
    is($st, 404, 'a path outside /v1: 404');
    like($j->{error}, qr{under /v1}, 'saying where the API is');
    ($st, $j) = api('GET', '/v1/nothing');
    is($st, 404, 'an unknown resource: 404');
    like($j->{error}, qr/no resource "nothing"/, 'naming it');
    ($st, $j) = api('DELETE', '/v1/counters');
    is($st, 405, 'DELETE on counters: 405');
    like($j->{error}, qr/DELETE is not allowed here: GET/, 'naming the allowed method');
    ($st, $j) = api('PATCH', '/v1/transactions');
    ok($st == 405 || $st == 501, "PATCH: refused ($st)");
    ($st, $j) = api('GET', '/v1/transactions?max=lots');
    is($st, 400, 'a bad ?max=: 400');
    like($j->{error}, qr/max must be a number/, 'naming the parameter');
    ($st, $j) = api('GET', '/v1/registrations/x%');
    is($st, 400, 'a bad percent escape in the item: 400') or diag explain $j;
    # garbage instead of HTTP: the connection is closed, the server lives
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $aport, Proto => 'tcp', Timeout => 3);
    print $s "\x00\x01garbage\r\n\r\n";
    local $/;
    my $ans = <$s> // '';
    ok($ans eq '' || $ans =~ m{^HTTP/1\.[01] 400}, 'garbage: 400 or closed');
    ($st) = api('GET', '/v1');
    is($st, 200, 'and the server answers the next one');
}

# --- a user module's own resource (sc_admin_register) ----------------------
{
    my ($st, $j) = api('PUT', '/v1/echo/a%2Fb%20c?p=x%26y', body => '{"k":"v"}');
    is($st, 200, 'a module\'s resource: 200');
    is_deeply($j, { method => 'PUT', item => 'a/b c', p => 'x&y', body => '{"k":"v"}' },
              'its handler got the method, the decoded item and parameter, the body');
    my ($rc, $out) = ctl('--json', 'raw', 'DELETE', '/v1/echo');
    is($rc, 0, 'sipchainctl raw: exit 0');
    is_deeply(decode_json($out), { method => 'DELETE', item => '', p => undef, body => '' }, 'DELETE, no item');
    ($st, $j) = api('GET', '/v1/echo/silent');
    is($st, 500, 'a handler that answers nothing: 500');
    like($j->{error}, qr/the link "t_admin" did not answer/, 'naming the link');
    ($st, $j) = api('GET', '/v1/echo/fail');
    is($st . ' ' . $j->{error}, '418 teapot "fail"', 'sc_admin_fail: its status and sentence');
    ($st, $j) = api('GET', '/v1/echo/twice');
    is($st . ' ' . $j->{method}, '200 GET', 'a second answer replaces the first');
}

# --- registrations ----------------------------------------------------------
my $to = pack_sockaddr_in($port, inet_aton('127.0.0.1'));
my $n = 0;
sub register {
    my ($sock, $aor, $contact, $expires) = @_;
    my ($user, $dom) = split /\@/, $aor;
    $n++;
    my $sp = $sock->sockport;
    $sock->send("REGISTER sip:$dom SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$sp;branch=z9hG4bK-areg$n;rport\r\n"
              . "Max-Forwards: 70\r\nTo: <sip:$aor>\r\nFrom: <sip:$aor>;tag=r$n\r\nCall-ID: areg-$n\r\n"
              . "CSeq: 1 REGISTER\r\nContact: $contact\r\nExpires: " . ($expires // 600) . "\r\nContent-Length: 0\r\n\r\n", 0, $to) or die;
    my $r = recv_msg($sock, 3);
    $r = recv_msg($sock, 3) while defined $r && $r =~ m{^SIP/2\.0 1};
    return sip_status($r);
}
my ($bs, $bsp) = udp_peer();
my ($as, $asp) = udp_peer();
is(register($bs, 'bob@example.com', "<sip:bob\@127.0.0.1:$bsp>"), '200', 'bob registered');
{
    my ($rc, $j) = ctl_json('reg', 'list');
    is($rc, 0, 'reg list: exit 0');
    is($j->{aors} . '/' . $j->{bindings}, '1/1', 'one AOR, one binding');
    is($j->{registrations}[0]{aor}, 'sip:bob@example.com', 'bob\'s');
    is($j->{registrations}[0]{bindings}[0]{contact}, "sip:bob\@127.0.0.1:$bsp", 'with his contact');
    cmp_ok($j->{registrations}[0]{bindings}[0]{expires_in}, '>', 500, 'and the time it has left');
    ($rc, $j) = ctl_json('reg', 'show', 'sip:bob@example.com');
    is($rc, 0, 'reg show (a sip: URI): exit 0');
    is($j->{bindings}[0]{contact}, "sip:bob\@127.0.0.1:$bsp", 'bob\'s binding');
    ($rc, $j) = ctl_json('-l', 'main', 'reg', 'show', 'bob@example.com');
    is($j->{aor}, 'sip:bob@example.com', 'reg show user@domain (-l main): the AOR in canonical form');
    my $err2;
    ($rc, undef, $err2) = ctl('reg', 'show', 'nobody@example.com');
    is($rc, 1, 'an unknown AOR: exit 1');
    like($err2, qr/404: no registration for sip:nobody\@example\.com/, '404 naming it');
    ($rc, undef, $err2) = ctl('reg', 'show', 'not an aor');
    like($err2, qr/400: "not an aor" is not an address-of-record/, 'not an AOR: 400');
    ($rc, undef, $err2) = ctl('-l', 'nosuch', 'reg', 'list');
    like($err2, qr/404: no link named "nosuch" has the resource "registrations"/, 'an unknown link: 404');
    my ($st, $jj) = api('POST', '/v1/registrations');
    is($st, 405, 'POST on the list: 405');
    ($rc, $j) = ctl_json('reg', 'del', 'bob@example.com');
    is($rc, 0, 'reg del: exit 0');
    is_deeply($j, { deleted => 'sip:bob@example.com', bindings => 1 }, 'says what went');
    ($rc, undef, $err2) = ctl('reg', 'show', 'bob@example.com');
    is($rc, 1, 'bob is gone');
    ($rc, undef, $err2) = ctl('reg', 'del', 'bob@example.com');
    like($err2, qr/404: no registration/, 'deleting again: 404');
    like(wait_log($log, qr/registrar\[main\]: sip:bob/), qr/registrar\[main\]: sip:bob\@example\.com: 1 binding\(s\) deleted through the management API/,
         'logged with the link\'s name');
}

# --- a b2bua call listed and ended ------------------------------------------
is(register($bs, 'bob@example.com', "<sip:bob\@127.0.0.1:$bsp>"), '200', 'bob registered again');
my $sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9000 RTP/AVP 0\r\n";
sub invite {
    my ($sock, $cid) = @_;
    my $sp = $sock->sockport;
    return "INVITE sip:bob\@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$sp;branch=z9hG4bK-ainv" . int(rand(1e9)) . ";rport\r\n"
         . "Max-Forwards: 70\r\nTo: <sip:bob\@example.com>\r\nFrom: <sip:alice\@example.com>;tag=a1\r\nCall-ID: $cid\r\n"
         . "CSeq: 1 INVITE\r\nContact: <sip:alice\@127.0.0.1:$sp>\r\nContent-Type: application/sdp\r\n"
         . "Content-Length: " . length($sdp) . "\r\n\r\n$sdp";
}
sub answer_of {
    my ($req, $status, $tag, $sock, $body) = @_;
    my $out = "SIP/2.0 $status\r\n";
    $out .= "$1\r\n" while $req =~ /^((?:Via|From|Call-ID|CSeq): [^\r]*)\r$/mg;
    $out .= "To: " . sip_header($req, 'To') . ";tag=$tag\r\nContact: <sip:bob\@127.0.0.1:" . $sock->sockport . ">\r\n";
    $out .= $body ? "Content-Type: application/sdp\r\nContent-Length: " . length($body) . "\r\n\r\n$body"
                  : "Content-Length: 0\r\n\r\n";
    return $out;
}
{
    $as->send(invite($as, 'adm-call-1'), 0, $to);
    my $binv = recv_request($bs, 'INVITE', 3);
    ok($binv, 'B gets the INVITE');
    $bs->send(answer_of($binv, '180 Ringing', 'b1', $bs), 0, $to);
    # ringing: the INVITE server transaction is in flight
    my ($rc, $j) = ctl_json('txn');
    is($rc, 0, 'txn: exit 0');
    my @ist = grep { $_->{kind} eq 'ist' && $_->{call_id} eq 'adm-call-1' } @{ $j->{transactions} };
    is(scalar(@ist), 1, 'txn lists A\'s INVITE server transaction');
    is($ist[0]{state} . '/' . $ist[0]{method}, 'Proceeding/INVITE', 'Proceeding, INVITE');
    cmp_ok($j->{count}, '>=', 2, 'and counts both INVITE transactions (A\'s and B\'s)');
    ($rc, $j) = ctl_json('calls', 'list');
    is_deeply($j->{calls}, [], 'calls list: nothing answered yet');
    $bs->send(answer_of($binv, '200 OK', 'b1', $bs, $sdp), 0, $to);
    my $aok = recv_request($as, 'SIP/2.0 200', 3);
    ok($aok, 'A gets the 200');
    my $atag = ($aok // '') =~ /^To: [^\r]*tag=([\w-]+)/m ? $1 : '';
    $as->send("ACK sip:x\@127.0.0.1:$port SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$asp;branch=z9hG4bK-aack1;rport\r\n"
            . "Max-Forwards: 70\r\nTo: <sip:bob\@example.com>;tag=$atag\r\nFrom: <sip:alice\@example.com>;tag=a1\r\n"
            . "Call-ID: adm-call-1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n", 0, $to);
    ok(recv_request($bs, 'ACK', 3), 'B gets its ACK');
    ($rc, $j) = ctl_json('calls', 'list');
    is(scalar(@{ $j->{calls} // [] }), 1, 'calls list: the call');
    my $call = $j->{calls}[0] // {};
    is($call->{a}{call_id}, 'adm-call-1', 'its A leg: A\'s Call-ID');
    isnt($call->{b}{call_id}, 'adm-call-1', 'its B leg: a Call-ID of its own');
    like($call->{b}{remote_uri}, qr/bob\@example\.com/, 'B\'s remote URI');
    ($rc, $j) = ctl_json('dialogs', 'list');
    is($rc, 0, 'dialogs list: exit 0');
    is_deeply([ sort map { "$_->{link}/$_->{module}/$_->{role}" } @{ $j->{dialogs} } ],
              [ 'calls-out/b2bua/uac', 'calls-out/b2bua/uas' ], 'both legs, by the link that made them');
    my ($adlg) = grep { $_->{role} eq 'uas' } @{ $j->{dialogs} };
    is($adlg->{id}, $call->{id}, 'A\'s dialog id is the call\'s id');
    is($adlg->{call_id}, 'adm-call-1', 'with A\'s Call-ID');
    my $err;
    ($rc, undef, $err) = ctl('calls', 'end', 'no-such-call');
    is($rc, 1, 'calls end with an unknown id: exit 1');
    like($err, qr/404: no call "no-such-call"/, '404 naming it');
    ($rc, $j) = ctl_json('calls', 'end', $call->{id});
    is($rc, 0, 'calls end ID: exit 0');
    is($j->{ended}, $call->{id}, 'says which');
    my $abye = recv_request($as, 'BYE', 3);
    my $bbye = recv_request($bs, 'BYE', 3);
    ok($abye, 'A gets a BYE');
    ok($bbye, 'B gets a BYE');
    is(sip_header($abye, 'Call-ID'), 'adm-call-1', 'A\'s in A\'s dialog');
    $as->send(sip_answer($abye, '200 OK'), 0, $to) if $abye;
    $bs->send(sip_answer($bbye, '200 OK'), 0, $to) if $bbye;
    ($rc, $j) = ctl_json('calls', 'list');
    is_deeply($j->{calls}, [], 'calls list: empty again');
    ($rc, $j) = ctl_json('dialogs', 'list');
    is_deeply($j->{dialogs}, [], 'dialogs list: empty');

    # a second call, ended through the core's dialogs resource: the
    # b2bua hears its A leg ended and ends B
    $as->send(invite($as, 'adm-call-2'), 0, $to);
    $binv = recv_request($bs, 'INVITE', 3);
    $bs->send(answer_of($binv, '200 OK', 'b2', $bs, $sdp), 0, $to) if $binv;
    $aok = recv_request($as, 'SIP/2.0 200', 3);
    $atag = ($aok // '') =~ /^To: [^\r]*tag=([\w-]+)/m ? $1 : '';
    $as->send("ACK sip:x\@127.0.0.1:$port SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$asp;branch=z9hG4bK-aack2;rport\r\n"
            . "Max-Forwards: 70\r\nTo: <sip:bob\@example.com>;tag=$atag\r\nFrom: <sip:alice\@example.com>;tag=a1\r\n"
            . "Call-ID: adm-call-2\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n", 0, $to);
    recv_request($bs, 'ACK', 3);
    ($rc, $j) = ctl_json('dialogs', 'list');
    ($adlg) = grep { $_->{call_id} eq 'adm-call-2' } @{ $j->{dialogs} };
    ok($adlg, 'the second call\'s A leg listed');
    ($rc, undef, $err) = ctl('dialogs', 'end', 'nope');
    like($err, qr/404: no dialog "nope"/, 'dialogs end with an unknown id: 404');
    my ($st) = api('GET', '/v1/dialogs/' . ($adlg->{id} // 'x'));
    is($st, 405, 'GET on one dialog: 405 (DELETE ends it)');
    ($rc, $j) = ctl_json('dialogs', 'end', $adlg->{id} // 'x');
    is($rc, 0, 'dialogs end ID: exit 0');
    $abye = recv_request($as, 'BYE', 3);
    $bbye = recv_request($bs, 'BYE', 3);
    ok($abye && $bbye, 'BYE to A, and the b2bua sends B its BYE');
    $as->send(sip_answer($abye, '200 OK'), 0, $to) if $abye;
    $bs->send(sip_answer($bbye, '200 OK'), 0, $to) if $bbye;
    ($rc, $j) = ctl_json('dialogs', 'list');
    is_deeply($j->{dialogs}, [], 'no dialog left');
}

# --- guard blocks --------------------------------------------------------------
{
    my $scan = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.55', LocalPort => 0) or die;
    my $sp = $scan->sockport;
    my $opt = "OPTIONS sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.55:$sp;branch=z9hG4bK-scan1;rport\r\n"
            . "Max-Forwards: 70\r\nTo: <sip:x\@example.com>\r\nFrom: <sip:y\@example.com>;tag=s1\r\nCall-ID: scan-1\r\n"
            . "CSeq: 1 OPTIONS\r\nUser-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n";
    $scan->send($opt, 0, $to);
    like(wait_log($log, qr/blocked source 127\.0\.0\.55/), qr/guard\[edge\]: blocked source 127\.0\.0\.55/,
         'the log names the link that blocked');
    my ($rc, $j, $err0) = ctl_json('blocks', 'list');
    is($rc, 1, 'blocks list with two guards and no -l: exit 1');
    like($err0, qr/409: 2 links have "blocks": name one with \?link= edge, inner/, '409 naming both links');
    ($rc, $j) = ctl_json('-l', 'inner', 'blocks', 'list');
    is_deeply($j->{blocks}, [], 'the inner guard blocked nothing');
    ($rc, $j) = ctl_json('-l', 'edge', 'blocks', 'list');
    is($rc, 0, 'blocks list -l edge: exit 0');
    my ($b) = grep { $_->{name} eq '127.0.0.55' } @{ $j->{blocks} // [] };
    ok($b, 'the scanner\'s source is listed');
    is($b->{kind} . '/' . $b->{reason}, 'source/user_agent', 'a source, for its User-Agent');
    cmp_ok($b->{seconds_left}, '>', 200, 'with its time left');
    my $err;
    ($rc, undef, $err) = ctl('-l', 'edge', 'blocks', 'lift', '127.0.0.99');
    like($err, qr/404: "127\.0\.0\.99" is not blocked/, 'lifting what is not blocked: 404');
    ($rc, $j) = ctl_json('-l', 'edge', 'blocks', 'lift', '127.0.0.55');
    is($rc, 0, 'blocks lift: exit 0');
    is_deeply($j, { lifted => '127.0.0.55', kind => 'source' }, 'says what');
    like(wait_log($log, qr/unblocked source 127\.0\.0\.55/), qr/unblocked source 127\.0\.0\.55 \(user_agent block\): lifted through the management API/, 'logged');
    ($rc, $j) = ctl_json('-l', 'edge', 'blocks', 'list');
    is(scalar(grep { $_->{name} eq '127.0.0.55' } @{ $j->{blocks} }), 0, 'no longer listed');
}

# --- counters ---------------------------------------------------------------------
{
    my ($rc, $j) = ctl_json('stats');
    is($rc, 0, 'stats: exit 0');
    ok(exists $j->{transactions} && exists $j->{dialogs}, 'transactions and dialogs');
    my $ua = $j->{metrics}{sipchain_blocked_total}{series} // [];
    my %ua = map { ($_->{labels}{link} // '') => $_->{value} } grep { $_->{labels}{reason} eq 'user_agent' } @$ua;
    is_deeply(\%ua, { edge => 1, inner => 0 },
              'the metrics: sipchain_blocked_total{reason="user_agent"} by link: edge 1, inner 0');
    my @h = @{ $j->{metrics}{sipchain_module_handle_seconds}{series} // [] };
    is_deeply([ sort map { "$_->{labels}{module}/$_->{labels}{link}" } @h ],
              [ sort qw(guard/edge guard/inner registrar/main b2bua/calls-out t_admin/5) ],
              'module histograms labelled by link name');
}

# --- the log level ------------------------------------------------------------------
{
    my ($rc, $j) = ctl_json('log-level');
    is($j->{level}, 'info', 'log-level: info');
    ($rc, $j) = ctl_json('log-level', 'debug');
    is($rc . '/' . $j->{level}, '0/debug', 'log-level debug');
    like(wait_log($log, qr/log level info -> debug/), qr/log level info -> debug \(management API/, 'logged');
    my $err;
    ($rc, undef, $err) = ctl('log-level', 'loud');
    is($rc, 1, 'an unknown level: exit 1');
    like($err, qr/400: unknown log level "loud"/, '400 naming it');
    my ($st, $jj) = api('PUT', '/v1/log-level', body => '{"level": debug}');
    is($st, 400, 'bad JSON: 400');
    like($jj->{error}, qr/bad JSON: the value of "level"/, 'naming the defect');
    ($st, $jj) = api('PUT', '/v1/log-level', body => '{"lvl":"debug"}');
    like($jj->{error}, qr/the object has no "level"/, 'a missing member: named');
    ($st, $jj) = api('PUT', '/v1/log-level', body => '');
    like($jj->{error}, qr/not a JSON object/, 'no body: named');
    ($rc, $j) = ctl_json('log-level', 'warn');
    is($j->{level}, 'warn', 'log-level warn');
}

# --- reload -----------------------------------------------------------------------------
{
    # the named registrar moves to the top of the chain: its bindings go
    # with its name
    my ($reg) = $yaml =~ /(  - module: registrar\n(?:    .*\n)+)/;
    (my $moved = $yaml) =~ s/\Q$reg\E//;
    $moved =~ s/^chain:\n/chain:\n$reg/m;
    write_file("sipchain-$port.yaml", $moved);
    my ($rc, $j) = ctl_json('reload');
    is($rc, 0, 'reload: exit 0');
    is_deeply($j, { reloaded => JSON::PP::true, reloads => 1 }, 'reloaded, the first');
    ($rc, $j) = ctl_json('resources');
    is(join(',', map { $_->{name} } @{ $j->{links} }), 'main,edge,inner,calls-out,t_admin', 'the new chain\'s links');
    ($rc, $j) = ctl_json('reg', 'show', 'bob@example.com');
    is($rc, 0, 'bob\'s binding is still there');
    ($rc, $j) = ctl_json('log-level');
    is($j->{level}, 'info', 'a reload restores the configured log level');
    # renamed, it is another link: the state kept under "main" is not its
    (my $renamed = $moved) =~ s/name: main/name: primary/;
    write_file("sipchain-$port.yaml", $renamed);
    ($rc, $j) = ctl_json('reload');
    is($rc, 0, 'reload with the registrar renamed: exit 0');
    my $err;
    ($rc, undef, $err) = ctl('reg', 'show', 'bob@example.com');
    like($err, qr/404: no registration/, 'a renamed link starts afresh: its state is kept by name');
    write_file("sipchain-$port.yaml", $moved . "  - module: guard\n    name: edge\n");
    ($rc, undef, $err) = ctl('reload');
    is($rc, 1, 'a bad config: exit 1');
    like($err, qr/409: reload failed, the running configuration stays: \S+:\d+:\d+: name "edge" is taken by link 2/,
         'file:line:col of the duplicate name');
    ($rc, $j) = ctl_json('resources');
    is(join(',', map { $_->{name} } @{ $j->{links} }), 'primary,edge,inner,calls-out,t_admin', 'the running chain stays');
}

is(stop_server($pid), 0, 'the server stops cleanly');

# --- a unix socket, no token; -t refuses a routable address without one ------------
{
    my $sock = "$dir/admin.sock";
    my $p2 = free_port();
    my $tf = write_file('admin.token', "file-token-0123456789\n");
    my ($pid2) = start_server(port => $p2, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$p2" ]
  admin: { listen: "unix:$sock", token_file: "$tf" }
modules_path: $mods
chain:
  - module: registrar
    domains: [ example.com ]
Y
    ok(-S $sock, 'the unix socket is there');
    my $out = `$ctl -s unix:$sock --json reg list 2>&1`;
    like($out, qr/401: a bearer token is required/, 'token_file: without the token, 401');
    $out = `SIPCHAIN_ADMIN=unix:$sock SIPCHAIN_ADMIN_TOKEN=file-token-0123456789 $ctl --json reg list 2>&1`;
    is($? >> 8, 0, 'sipchainctl over the unix socket, the token from token_file ($SIPCHAIN_ADMIN*): exit 0');
    like($out, qr/^\{"aors":0,"bindings":0,"registrations":\[\]\}/, 'one registrar: no -l needed');
    my $mode = (stat $sock)[2] & 0777;
    is($mode & 0007, 0, 'the socket is not open to others');
    is(stop_server($pid2), 0, 'stops');
    ok(!-e $sock, 'and removes its socket');
    $out = `$ctl -s unix:$sock txn 2>&1`;
    is($? >> 8, 3, 'no server: exit 3');
    like($out, qr/cannot connect to unix:/, 'saying so');
    my $bad = write_file('routable.yaml', "server:\n  listen: [ \"udp:127.0.0.1:$p2\" ]\n  admin:\n    listen: \"0.0.0.0:$p2\"\nmodules_path: $mods\n");
    $out = `${\ sipchain()} -t -c $bad 2>&1`;
    isnt($? >> 8, 0, '-t: a routable admin address without a token is refused');
    like($out, qr/routable\.yaml:4:13: admin listen "0\.0\.0\.0:$p2" is reachable from other hosts: set admin\.token/, 'at file:line:col, saying what to do');
    my $ok = write_file('routable2.yaml', "server:\n  listen: [ \"udp:127.0.0.1:$p2\" ]\n  admin:\n    listen: \"0.0.0.0:$p2\"\n    token: \"$token\"\nmodules_path: $mods\n");
    like(`${\ sipchain()} -t -c $ok 2>&1`, qr/is valid/, 'with a token it is accepted');
    my $both = write_file('both.yaml', "server:\n  listen: [ \"udp:127.0.0.1:$p2\" ]\n  admin:\n    token: \"$token\"\n    token_file: $tf\n");
    like(`${\ sipchain()} -t -c $both 2>&1`, qr/both\.yaml:5:17: admin: "token" or "token_file", not both/, 'token and token_file: refused');
    my $gone = write_file('gone.yaml', "server:\n  listen: [ \"udp:127.0.0.1:$p2\" ]\n  admin:\n    token_file: $dir/nothing\n");
    like(`${\ sipchain()} -t -c $gone 2>&1`, qr/gone\.yaml:4:17: admin token_file \S+nothing: No such file/, 'a missing token_file: refused, naming it');
    my $short = write_file('short.yaml', "server:\n  listen: [ \"udp:127.0.0.1:$p2\" ]\n  admin: { token: \"abc\" }\n");
    like(`${\ sipchain()} -t -c $short 2>&1`, qr/short\.yaml:3:\d+: admin token: at least 16 characters/, 'a short token is refused');
    my $usage = `$ctl frobnicate 2>&1`;
    is($? >> 8, 2, 'sipchainctl with an unknown command: exit 2');
    like($usage, qr/^sipchainctl: unknown command.*\nusage:/s, 'and the usage');
}

done_testing();
