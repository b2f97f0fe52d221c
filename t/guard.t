# guard end to end: per-source rate limits (a flood limited, then
# blocked, then let in again), failed-authentication limits per source
# and per user (a 1000-password brute force gets its few guesses, then
# 403; the right password refused while blocked and accepted after;
# exponential backoff; a blocked unknown user and a blocked known user
# look the same on the wire), deny / allow / trusted CIDRs (trusted skips
# digest), scanner User-Agents, "drop" and "503", IPv6 sources grouped by
# /64, and the log lines and metrics of every block and unblock.
#
# Every source is its own loopback address (127.0.0.N: all of 127/8 is
# the loopback interface on Linux), so one server holds many sources.
# Floods are bounded (60 requests); assertions are on counts, with slack
# for the token refill of a slow machine.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use Digest::MD5 qw(md5_hex);
use IO::Socket::INET;
use IO::Socket::IP;
use HTTP::Tiny;
use SipTest;

my $mods = module_dir();
my $realm = 'example.com';
my $users = write_file('users.yaml', "alice: { ha1: \"" . md5_hex("alice:$realm:right") . "\" }\n"
                                   . "bob: { ha1: \"" . md5_hex("bob:$realm:b0b") . "\" }\n");
my $port = free_port();
my $mport = free_port();
my $yaml = <<Y;
server:
  listen: [ "udp:127.0.0.1:$port" ]
  metrics: { listen: "127.0.0.1:$mport" }
  log: { level: info }
modules_path: $mods
chain:
  - module: guard
    action: "503"
    rate: 10
    burst: 10
    block_after: 10
    block_time: 4
    auth_failures: 5
    auth_user_failures: 8
    auth_window: 60
    auth_block_time: 5
    auth_max_block_time: 60
    deny: [ 127.0.0.66/32, "2001:db8::/32" ]
    trusted: [ 127.0.0.77 ]
  - module: options
  - module: digest-auth
    realm: $realm
    users: $users
    methods: [ REGISTER, MESSAGE ]
  - module: registrar
    methods: [ REGISTER ]
    domains: [ $realm ]
  - module: t_whoami
    methods: [ MESSAGE ]
Y
my ($pid, undef, $log) = start_server(port => $port, yaml => $yaml);
my $http = HTTP::Tiny->new(timeout => 5);
sub metrics {
    my %m;
    for (split /\n/, $http->get("http://127.0.0.1:$mport/metrics")->{content} // '') {
        $m{$1} = $2 if !/^#/ && /^(\S+(?:\{.*\})?) (\S+)$/;
    }
    return \%m;
}
sub slurp { local (@ARGV, $/) = $_[0]; return scalar(<>) // '' }
# how many lines match, once one does (the log is written by a thread of
# its own, a moment after the fact; at most 3 s)
sub count_log {
    my ($re) = @_;
    my $end = time + 3;
    while (1) {
        my @m = slurp($log) =~ /$re/g;
        return scalar @m if @m || time > $end;
        sleep 0.05;
    }
}

my %sock;
sub from {          # a UDP socket on source address $ip
    my ($ip) = @_;
    return $sock{$ip} //= IO::Socket::INET->new(Proto => 'udp', LocalAddr => $ip, LocalPort => 0)
        // die "bind $ip: $!";
}
my $n = 0;
sub request {
    my (%o) = @_;
    my $method = $o{method} // 'OPTIONS';
    my $s = from($o{ip});
    my $me = $s->sockport;
    my $user = $o{user} // 'alice';
    my $ruri = $o{ruri} // "sip:$realm";
    $n++;
    return "$method $ruri SIP/2.0\r\nVia: SIP/2.0/UDP $o{ip}:$me;branch=z9hG4bK-g$n;rport\r\n"
         . "Max-Forwards: 70\r\nTo: <sip:$user\@$realm>\r\nFrom: <sip:$user\@$realm>;tag=f$n\r\n"
         . "Call-ID: guard-$n\r\nCSeq: $n $method\r\n"
         . ($method eq 'REGISTER' ? "Contact: <sip:$user\@$o{ip}:$me>\r\n" : '')
         . join('', map { "$_\r\n" } @{ $o{headers} // [] })
         . "Content-Length: 0\r\n\r\n";
}
# one request, its final answer ('' when none within wait seconds)
sub ask {
    my (%o) = @_;
    my $r = send_recv(from($o{ip}), $port, request(%o), $o{wait} // 3);
    $r = recv_msg(from($o{ip}), 3) while defined $r && $r =~ m{^SIP/2\.0 1};
    return $r // '';
}
sub param { my ($ch, $p) = @_; return $ch =~ /\b$p="?([^",]*)"?/ ? $1 : undef }
my $nc = 0;
sub creds {         # an Authorization answering challenge $ch
    my ($ch, $user, $pass) = @_;
    my ($nonce, $opaque) = (param($ch, 'nonce'), param($ch, 'opaque'));
    my $cnonce = 'c' . int(rand(1e9));
    my $ncs = sprintf('%08x', ++$nc);
    my $resp = md5_hex(md5_hex("$user:$realm:$pass") . ":$nonce:$ncs:$cnonce:auth:" . md5_hex("REGISTER:sip:$realm"));
    return "Authorization: Digest username=\"$user\", realm=\"$realm\", nonce=\"$nonce\", uri=\"sip:$realm\", "
         . "response=\"$resp\", algorithm=MD5, opaque=\"$opaque\", qop=auth, nc=$ncs, cnonce=\"$cnonce\"";
}
sub register { my ($ip, $user, $ch, $pass) = @_; return ask(ip => $ip, method => 'REGISTER', user => $user, headers => [ creds($ch, $user, $pass) ]) }

# 1. rate: 60 OPTIONS at once from one source, rate 10/s, burst 10
{
    my $ip = '127.0.0.10';
    my $s = from($ip);
    my $to = pack_sockaddr_in($port, inet_aton('127.0.0.1'));
    $s->send(request(ip => $ip), 0, $to) for 1 .. 60;
    my %got;
    while (defined(my $r = recv_msg($s, 1))) { $got{sip_status($r)}++ }
    my ($ok, $busy) = ($got{200} // 0, $got{503} // 0);
    ok($ok >= 10 && $ok <= 30, "flood: the burst and the refill get through ($ok of 60)");
    is($ok + $busy, 60, "every other request answered 503 (action 503): $busy");
    like(wait_log($log, qr/blocked source 127\.0\.0\.10 /), qr/blocked source 127\.0\.0\.10 for 4 s: over the request rate/,
         'the source that stayed over the rate is blocked, and it is logged');
    is(count_log(qr/(?<!un)blocked source 127\.0\.0\.10 /), 1, 'once');
    my $r = ask(ip => $ip);
    is(sip_status($r), '503', 'while blocked: 503');
    like(sip_header($r, 'Retry-After'), qr/^[1-4]$/, 'with Retry-After: the seconds left');
    my $m = metrics();
    is($m->{'sipchain_blocked_total{reason="rate",link="1"}'}, 1, 'sipchain_blocked_total{reason="rate"} 1');
    is($m->{'sipchain_blocked_sources{link="1"}'}, 1, 'sipchain_blocked_sources 1');
    like(wait_log($log, qr/unblocked source 127\.0\.0\.10 /, 8), qr/unblocked source 127\.0\.0\.10 \(rate block\): time over/,
         'unblocked after block_time, logged without a request');
    is(count_log(qr/unblocked source 127\.0\.0\.10 /), 1, 'once');
    is(sip_status(ask(ip => $ip)), '200', 'and let in again');
    is(metrics()->{'sipchain_blocked_sources{link="1"}'}, 0, 'sipchain_blocked_sources 0');
}

# 2. brute force: 1000 wrong passwords for alice from one source
my $ch;
{
    my $ip = '127.0.0.20';
    my $r = ask(ip => $ip, method => 'REGISTER');
    is(sip_status($r), '401', 'REGISTER without credentials: challenged');
    $ch = sip_header($r, 'WWW-Authenticate');
    my %got;
    for my $i (1 .. 1000) {         # (a silent server ends it: bounded in time too)
        my $st = sip_status(register($ip, 'alice', $ch, "guess$i"));
        $got{$st}++;
        last if $st eq 'none';
    }
    is($got{401} // 0, 5, 'five guesses got a verdict (auth_failures 5)');
    is($got{403} // 0, 995, 'the other 995 were refused with 403');
    is(count_log(qr/blocked source 127\.0\.0\.20 for 5 s: too many failed authentications/), 1, 'blocked once, logged');
    is(sip_status(register($ip, 'alice', $ch, 'right')), '403', 'the right password, while blocked: 403');
    is(sip_status(ask(ip => $ip, method => 'REGISTER')), '403', 'no credentials at all, while blocked: 403');
    wait_log($log, qr/unblocked source 127\.0\.0\.20 /, 9);
    is(sip_status(register($ip, 'alice', $ch, 'right')), '200', 'the right password after the block: registered');
    $got{ sip_status(register($ip, 'alice', $ch, "again$_")) }++ for 1 .. 5;
    like(wait_log($log, qr/blocked source 127\.0\.0\.20 for 10 s/), qr/blocked source 127\.0\.0\.20 for 10 s/,
         'the next block is twice as long (backoff)');
}

# 3. per user, from many sources: a known and an unknown user blocked alike
{
    for my $i (1 .. 8) {
        register("127.0.0." . (100 + $i), 'bob', $ch, "x$i");
        register("127.0.0." . (120 + $i), 'mallory', $ch, "x$i");
    }
    wait_log($log, qr/blocked user mallory/);
    is(count_log(qr/blocked user bob\@example\.com for 5 s/), 1, 'bob (known) blocked after 8 failures from 8 sources');
    is(count_log(qr/blocked user mallory\@example\.com for 5 s/), 1, 'mallory (unknown) likewise');
    my $ip = '127.0.0.140';
    my $bob = register($ip, 'bob', $ch, 'wrong');
    my $mal = register($ip, 'mallory', $ch, 'wrong');
    is(sip_status($bob) . '/' . sip_status($mal), '403/403', 'both refused with 403');
    s/branch=[\w-]+|tag=\w+|CSeq: \d+|Call-ID: \S+|To: [^\r]*|From: [^\r]*//g for $bob, $mal;
    is($bob, $mal, 'and the answers are the same but for the request\'s own ids');
    is(sip_status(register($ip, 'bob', $ch, 'b0b')), '403', 'bob\'s right password while blocked: 403');
    wait_log($log, qr/unblocked user bob/, 9);
    is(sip_status(register($ip, 'bob', $ch, 'b0b')), '200', 'and accepted after the block');
    is(metrics()->{'sipchain_blocked_total{reason="auth_user",link="1"}'}, 2, 'sipchain_blocked_total{reason="auth_user"} 2');
}

# 4. lists: deny, trusted (skips digest); User-Agent
{
    is(sip_status(ask(ip => '127.0.0.66')), '503', 'a denied source: refused');
    my $r = ask(ip => '127.0.0.77', method => 'MESSAGE');
    is(sip_status($r), '200', 'a trusted source: not challenged');
    is(sip_header($r, 'X-User'), '-', '(nobody authenticated it)');
    is(sip_status(ask(ip => '127.0.0.78', method => 'MESSAGE')), '401', 'the next address is challenged');
    is(sip_status(ask(ip => '127.0.0.88', headers => [ 'User-Agent: friendly-scanner' ])), '503', 'friendly-scanner: refused');
    is(sip_status(ask(ip => '127.0.0.88', headers => [ 'User-Agent: Linphone/5.0' ])), '503', 'and its source blocked');
    like(wait_log($log, qr/blocked source 127\.0\.0\.88 /), qr/blocked source 127\.0\.0\.88 for 4 s: a scanner's User-Agent/, 'logged');
    is(sip_status(ask(ip => '127.0.0.89', headers => [ 'User-Agent: SIPVicious 0.3' ])), '503', 'sipvicious, any case: refused');
    is(sip_status(ask(ip => '127.0.0.90', headers => [ 'User-Agent: Linphone/5.0' ])), '200', 'a phone: let in');
    my $m = metrics();
    is($m->{'sipchain_blocked_total{reason="user_agent",link="1"}'}, 2, 'sipchain_blocked_total{reason="user_agent"} 2');
    is($m->{'sipchain_blocked_total{reason="auth",link="1"}'}, 2, 'sipchain_blocked_total{reason="auth"} 2');
    ok(($m->{'sipchain_guard_refused_total{reason="deny",link="1"}'} // 0) >= 1, 'refusals counted by reason');
}
is(stop_server($pid), 0, 'clean stop');

# 5. action drop, allow, replaced User-Agent list, IPv6 by /64
{
    my $p2 = free_port();
    my $mp2 = free_port();
    my $yaml2 = <<Y;
server:
  listen: [ "udp:127.0.0.1:$p2", "udp:[::1]:$p2" ]
  metrics: { listen: "127.0.0.1:$mp2" }
  log: { level: info }
modules_path: $mods
chain:
  - module: guard
    rate: 2
    burst: 2
    block_after: 3
    block_time: 60
    allow: [ 127.0.0.0/16, "::1/128" ]
    max_sources: 16
    deny: [ 127.0.0.9 ]
    user_agents: [ EvilBot ]
  - module: options
Y
    ($pid, undef, $log) = start_server(port => $p2, yaml => $yaml2);
    $port = $p2;
    is(sip_status(ask(ip => '127.0.0.30', headers => [ 'User-Agent: friendly-scanner' ])), '200', 'a replaced list: friendly-scanner let in');
    is(ask(ip => '127.0.0.31', headers => [ 'User-Agent: my-evilbot' ], wait => 1), '', 'EvilBot dropped: no answer');
    is(ask(ip => '127.0.0.9', wait => 1), '', 'denied: dropped');
    is(ask(ip => '127.1.0.1', wait => 1), '', 'outside allow: dropped');
    my $ip = '127.0.0.32';
    my $s = from($ip);
    my $to = pack_sockaddr_in($port, inet_aton('127.0.0.1'));
    $s->send(request(ip => $ip), 0, $to) for 1 .. 20;
    my $answers = 0;
    $answers++ while defined recv_msg($s, 1.5);
    ok($answers >= 2 && $answers <= 6, "flood with action drop: only the burst answered ($answers of 20)");
    like(wait_log($log, qr/blocked source 127\.0\.0\.32/), qr/blocked source 127\.0\.0\.32 for 60 s/, 'and blocked');
    # (the core answers 100 to an INVITE as it arrives, RFC 3261 §17.2.1,
    # before any module sees it: a dropped INVITE gets that, nothing more)
    my $inv = send_recv($s, $port, request(ip => $ip, method => 'INVITE'), 1);
    $inv = recv_msg($s, 1) while defined $inv && $inv =~ m{^SIP/2\.0 100 };
    is($inv, undef, 'an INVITE from it: no final answer');

    # IPv6: ::1 is the only address at hand; its source is its /64
    my $v6 = IO::Socket::IP->new(Proto => 'udp', LocalHost => '::1', PeerHost => '::1', PeerPort => $p2)
        or BAIL_OUT("no ::1: $!");
    my $v6port = $v6->sockport;
    for my $i (1 .. 20) {
        (my $m = request(ip => '127.0.0.33')) =~ s/127\.0\.0\.33:\d+/[::1]:$v6port/;
        $v6->send($m);
    }
    my $v6answers = 0;
    my $sel = IO::Select->new($v6);
    while ($sel->can_read(1.5)) { my $b; $v6->recv($b, 70000); $v6answers++ }
    ok($v6answers >= 2 && $v6answers <= 6, "IPv6 flood limited too ($v6answers of 20)");
    like(wait_log($log, qr/blocked source ::\/64/), qr/blocked source ::\/64 for 60 s: over the request rate/,
         'an IPv6 source is blocked as its /64');

    # many sources, a table of 16: the least recently seen entries are reused
    for my $i (1 .. 40) {
        is(ask(ip => "127.0.2.$i", headers => [ 'User-Agent: EvilBot' ], wait => 0.2), '', "scanner 127.0.2.$i dropped") if $i == 40;
        from("127.0.2.$i")->send(request(ip => "127.0.2.$i", headers => [ 'User-Agent: EvilBot' ]), 0, $to) if $i < 40;
    }
    wait_log($log, qr/blocked source 127\.0\.2\.40 /);
    my %m;
    for (split /\n/, HTTP::Tiny->new(timeout => 5)->get("http://127.0.0.1:$mp2/metrics")->{content} // '') {
        $m{$1} = $2 if !/^#/ && /^(\S+(?:\{.*\})?) (\S+)$/;
    }
    is($m{'sipchain_blocked_sources{link="1"}'}, 16, '40 sources blocked, a table of 16: 16 blocked now');
    is($m{'sipchain_blocked_total{reason="user_agent",link="1"}'}, 41, 'all 41 User-Agent blocks counted');
    my @full = slurp($log) =~ /unblocked source \S+ \(\w+ block\): table full/g;
    ok(@full >= 24, 'the others were let go, each logged (' . scalar(@full) . ')');

    # a reload keeps the blocks (the tables outlive it, sc_kept): no block
    # ends, the gauge stays, the scanner's address is still refused
    kill 'HUP', $pid;
    like(wait_log($log, qr/reloaded /, 8), qr/reloaded /, 'SIGHUP: reloaded');
    is(count_log(qr/user\(s\) unblocked: the configuration/), 0, 'no block ended with the old configuration');
    my $g;
    for (1 .. 10) {
        ($g) = (HTTP::Tiny->new(timeout => 5)->get("http://127.0.0.1:$mp2/metrics")->{content} // '') =~ /^sipchain_blocked_sources\{link="1"\} (\d+)$/m;
        last if defined $g;
        sleep 0.1;
    }
    is($g, 16, 'sipchain_blocked_sources still 16');
    is(ask(ip => '127.0.2.40', wait => 0.5), '', 'the scanner\'s address, with another User-Agent, is still refused');
    is(stop_server($pid), 0, 'clean stop');
}

# 6. config errors name the place
my $bad = write_file('bad.yaml', "server:\n  listen: [ \"udp:127.0.0.1:$port\" ]\nmodules_path: $mods\nchain:\n"
                   . "  - module: guard\n    deny: [ 192.0.2.1/24 ]\n");
like(`${\ sipchain()} -t -c $bad 2>&1`, qr/bad\.yaml:6:13: deny: "192\.0\.2\.1\/24" is not an address or a range/,
     'a range with host bits set: file:line:col');
done_testing();
