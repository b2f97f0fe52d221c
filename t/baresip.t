# Real softphones (baresip, t/lib/Baresip.pm) against the real server with
# the default digest-auth configuration: registration with digest over
# UDP, TCP, TLS and IPv6 (and through an outbound proxy); calls through
# the proxy module and through the b2bua module: ringing, answer,
# hold/resume, the callee hangs up, the caller hangs up, the caller
# cancels, a 45 s ring then answer (run alongside the rest), a MESSAGE;
# each case asserts what both phones and the CDR file (cdr-writer) saw.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use JSON::PP;
use Digest::MD5 qw(md5_hex);
use SipTest;
use Baresip;

plan skip_all => 'baresip (baresip-core) not installed: run scripts/install-deps.sh' unless Baresip::available();

my $mods = module_dir();
my $dir = tmpdir();
my $realm = 'example.com';
my @names = qw(alice bob carol dave erin olga ringa ringb fay gus hal ringc ringd);
my $users = write_file('users.yaml', join('', map { "$_: { ha1: \"" . md5_hex("$_:$realm:pw-$_") . "\" }\n" } @names));
my $cert = Baresip::cert();

# P: digest-auth + registrar + proxy; B: digest-auth + registrar + b2bua;
# both with their CDRs, default digest-auth settings
my ($pport, $ptls, $p6, $bport) = (free_port(), free_port(), free_port(), free_port());
sub conf {
    my ($port, $listen, $cdr, $last) = @_;
    return "server:\n  listen:\n$listen  log: { level: debug }\nmodules_path: $mods\nchain:\n"
         . "  - module: cdr-writer\n    file: $dir/$cdr\n"
         . "  - module: digest-auth\n    realm: $realm\n    users: $users\n"
         . "  - module: registrar\n    methods: [ REGISTER ]\n    domains: [ 127.0.0.1, \"[::1]\", $realm ]\n"
         . $last;
}
my ($ppid, undef, $plog) = start_server(port => $pport, yaml => conf($pport,
    "    - \"udp:127.0.0.1:$pport\"\n    - \"tcp:127.0.0.1:$pport\"\n"
  . "    - { url: \"tls:127.0.0.1:$ptls\", cert: \"$cert\", key: \"$dir/baresip-key.pem\" }\n"
  . "    - \"udp:[::1]:$p6\"\n", 'cdr-proxy.jsonl', "  - module: proxy\n    record_route: true\n"));
my ($bpid, undef, $blog) = start_server(port => $bport, yaml => conf($bport,
    "    - \"udp:127.0.0.1:$bport\"\n", 'cdr-b2bua.jsonl', "  - module: b2bua\n    methods: [ INVITE ]\n"));

my $P = "127.0.0.1:$pport";
my $B = "127.0.0.1:$bport";
my %ph;
sub phone { my ($name, %o) = @_; $ph{$name} = Baresip->new(name => $name, user => $name, pass => "pw-$name", %o) }
phone('alice', domain => $P, contacts => [ "sip:bob\@$P" ]);
phone('bob', domain => $P, transport => 'tcp');
phone('carol', domain => "127.0.0.1:$ptls", transport => 'tls');
phone('dave', domain => "[::1]:$p6", ipv6 => 1);
phone('erin', domain => "[::1]:$p6", ipv6 => 1);
phone('olga', domain => $realm, outbound => "sip:$P");
phone('ringa', domain => $P);
phone('ringb', domain => $P);
phone('fay', domain => $B, display => 'Fay Fox');
phone('gus', domain => $B);
phone('hal', domain => $realm, outbound => "sip:$B");
phone('ringc', domain => $B);
phone('ringd', domain => $B);

# 1. registration with digest (default digest-auth config) everywhere
for (['alice', 'UDP'], ['bob', 'TCP'], ['carol', 'TLS'], ['dave', 'UDP over IPv6'], ['erin', 'UDP over IPv6'],
     ['olga', 'UDP, outbound proxy'], ['ringa', 'UDP'], ['ringb', 'UDP'], ['fay', 'UDP'], ['gus', 'UDP'],
     ['hal', 'UDP, outbound proxy'], ['ringc', 'UDP'], ['ringd', 'UDP']) {
    my ($n, $how) = @$_;
    my $e = $ph{$n}->wait_registered(15);
    ok($e, "$n registers with digest over $how") or diag($ph{$n}->log_text);
}

# how many lines of p's log match re, once at least n do (bounded)
sub log_count {
    my ($p, $re, $n, $secs) = @_;
    my $end = time + ($secs // 5);
    while (1) {
        my $c = () = $ph{$p}->log_text =~ /$re/g;
        return $c if $c >= $n || time > $end;
        sleep 0.1;
    }
}
sub ev { my ($p, $re, $secs) = @_; return $ph{$p}->wait_event($re, $secs // 10) }
sub cdrs { my ($f) = @_; open my $fh, '<', "$dir/$f" or return (); return map { decode_json($_) } grep { /\S/ } <$fh> }
# the records of a Call-ID but the challenged attempts (407)
sub cdr_of {
    my ($f, $cid, $secs) = @_;
    my $end = time + ($secs // 5);
    while (1) {
        my @r = grep { $_->{call_id} eq $cid && $_->{final_status} != 407 } cdrs($f);
        return @r if @r || time > $end;
        sleep 0.2;
    }
}

# 2. the long rings start now and are answered after 45 s, while the rest runs
my $ring_t0 = time;
$ph{ringa}->dial("sip:ringb\@$P");
$ph{ringc}->dial("sip:ringd\@$B");
my $ring_in_p = ev('ringb', qr/^CALL_INCOMING$/);
my $ring_in_b = ev('ringd', qr/^CALL_INCOMING$/);
ok($ring_in_p, 'long ring through the proxy: the callee rings');
ok($ring_in_b, 'long ring through the b2bua: the callee rings');
ok(ev('ringa', qr/^CALL_RINGING$/), 'and its caller hears it (180)');

# 3. proxy: alice (UDP) calls bob (TCP); bob answers; hold and resume; bob hangs up
$ph{alice}->dial("sip:bob\@$P");
my $in = ev('bob', qr/^CALL_INCOMING$/);
ok($in, 'proxy: bob (TCP) is called by alice (UDP)');
like($in && $in->{peeruri}, qr/^sip:alice\@127\.0\.0\.1/, 'bob sees alice calling');
ok(ev('alice', qr/^CALL_RINGING$/), 'alice hears it ring');
$ph{bob}->answer;
my $est_a = ev('alice', qr/^CALL_ESTABLISHED$/);
ok($est_a && ev('bob', qr/^CALL_ESTABLISHED$/), 'bob answers: both established');
my $cid = $est_a ? $est_a->{id} : '';
sleep 0.5;
$ph{alice}->forget_events;
ok($ph{alice}->hold, 'alice holds');
is(log_count('bob', qr/got re-INVITE/, 1), 1, 'bob gets her re-INVITE (through the record-routed proxy)');
ok($ph{alice}->wait_event(qr/^CALL_REMOTE_SDP$/, 5), 'and alice its answer');
ok($ph{alice}->resume, 'alice resumes');
is(log_count('bob', qr/got re-INVITE/, 2), 2, 'bob gets that re-INVITE too');
ok($ph{alice}->wait_event(qr/^CALL_REMOTE_SDP$/, 5), 'and alice its answer');
ok(!grep({ $_->{type} eq 'CALL_CLOSED' } @{ $ph{alice}{seen} }), 'the call goes on');
$ph{bob}->hangup;
my $cl = ev('alice', qr/^CALL_CLOSED$/);
like($cl && $cl->{param}, qr/reset by peer/i, 'bob hangs up: alice sees the call ended by the peer');
like((ev('bob', qr/^CALL_CLOSED$/) // {})->{param} // '', qr/reset by user/i, 'bob sees his own hangup');
my ($r) = cdr_of('cdr-proxy.jsonl', $cid);
is($r && "$r->{final_status} $r->{reason} $r->{role} $r->{user}", '200 normal-release proxy-uas alice', 'CDR: 200, normal-release, proxied, authenticated as alice');
ok($r && $r->{duration_s} > 0.5 && $r->{from} =~ /alice/ && $r->{to} =~ /bob/, 'CDR: from alice to bob, with a duration');

# 4. proxy: the caller cancels
$ph{alice}->forget_events;
$ph{alice}->dial("sip:bob\@$P");
$in = ev('bob', qr/^CALL_INCOMING$/);
ok($in, 'proxy: bob rings again');
ev('alice', qr/^CALL_RINGING$/);
$cid = $in ? $in->{id} : '';
$ph{alice}->hangup;
ok(ev('alice', qr/^CALL_CLOSED$/), 'alice cancels');
$cl = ev('bob', qr/^CALL_CLOSED$/);
ok($cl, 'bob stops ringing (CANCEL reached him)');
($r) = cdr_of('cdr-proxy.jsonl', $cid);
is($r && "$r->{final_status} $r->{reason}", '487 call-canceled', 'CDR: 487, call-canceled');

# 5. proxy: a MESSAGE from alice to bob (digest-challenged, then relayed)
$ph{alice}->message('hello bob, from alice');
my $m = ev('bob', qr/^MESSAGE_RECEIVED$/);
is($m && $m->{param}, 'hello bob, from alice', 'MESSAGE through the proxy: bob reads it');
unlike($ph{alice}->log_text, qr/message_send\(.*\) failed/, 'alice\'s phone reports no failure sending it');
like($m && $m->{peeruri}, qr/^sip:alice\@127\.0\.0\.1/, 'from alice');

# 6. proxy over IPv6: dave calls erin, erin answers, the caller hangs up
$ph{dave}->dial("sip:erin\@[::1]:$p6");
$in = ev('erin', qr/^CALL_INCOMING$/);
ok($in, 'IPv6: erin is called by dave');
$ph{erin}->answer;
$est_a = ev('dave', qr/^CALL_ESTABLISHED$/);
ok($est_a && ev('erin', qr/^CALL_ESTABLISHED$/), 'IPv6: established');
$cid = $est_a ? $est_a->{id} : '';
sleep 0.5;
$ph{dave}->hangup;
like((ev('erin', qr/^CALL_CLOSED$/) // {})->{param} // '', qr/reset by peer/i, 'the caller hangs up: erin sees it');
ok(ev('dave', qr/^CALL_CLOSED$/), 'dave too');
($r) = cdr_of('cdr-proxy.jsonl', $cid);
is($r && "$r->{final_status} $r->{reason} $r->{user}", '200 normal-release dave', 'CDR: the IPv6 call, normal-release, dave');

# 7. b2bua: fay calls gus; gus sees fay (name and AOR); hold/resume; gus hangs up
$ph{fay}->dial("sip:gus\@$B");
$in = ev('gus', qr/^CALL_INCOMING$/);
ok($in, 'b2bua: gus is called');
is($in && $in->{peeruri}, "sip:fay\@$B", 'gus sees fay\'s AOR calling (not sipchain, not a contact)');
like($ph{gus}->log_text, qr/Incoming call from: Fay Fox sip:fay\@/, 'with her display name');
ok(ev('fay', qr/^CALL_RINGING$/), 'fay hears it ring');
$ph{gus}->answer;
$est_a = ev('fay', qr/^CALL_ESTABLISHED$/);
my $est_b = ev('gus', qr/^CALL_ESTABLISHED$/);
ok($est_a && $est_b, 'gus answers: both established');
my ($acid, $bcid) = ($est_a ? $est_a->{id} : '', $est_b ? $est_b->{id} : '');
isnt($acid, $bcid, 'two dialogs (two Call-IDs)');
sleep 0.5;
$ph{fay}->forget_events;
ok($ph{fay}->hold, 'fay holds');
is(log_count('gus', qr/got re-INVITE/, 1), 1, 'gus gets the re-INVITE across the b2bua');
ok($ph{fay}->wait_event(qr/^CALL_REMOTE_SDP$/, 5), 'and fay gus\'s answer');
ok($ph{fay}->resume, 'fay resumes');
is(log_count('gus', qr/got re-INVITE/, 2), 2, 'gus gets that one too');
ok($ph{fay}->wait_event(qr/^CALL_REMOTE_SDP$/, 5), 'and fay the answer');
$ph{gus}->hangup;
like((ev('fay', qr/^CALL_CLOSED$/) // {})->{param} // '', qr/reset by peer/i, 'gus hangs up: fay sees the peer end it');
ok(ev('gus', qr/^CALL_CLOSED$/), 'gus too');
my ($ra) = cdr_of('cdr-b2bua.jsonl', $acid);
my ($rb) = cdr_of('cdr-b2bua.jsonl', $bcid);
is($ra && "$ra->{final_status} $ra->{reason} $ra->{role} $ra->{user}", '200 normal-release b2bua-uas fay', 'CDR: A leg 200, normal-release, fay, its role');
is($rb && "$rb->{final_status} $rb->{reason} $rb->{role}", '200 normal-release b2bua-uac', 'CDR: B leg 200, normal-release, its role');
ok($ra && $rb && $ra->{correlation} && $rb->{correlation} eq $ra->{correlation}, 'CDR: both legs share a correlation key');
like($rb && $rb->{from}, qr/^"Fay Fox" <sip:fay\@127\.0\.0\.1:$bport>;tag=/, 'CDR: the B leg\'s From is fay');
like($rb && $rb->{to}, qr/^<sip:gus\@127\.0\.0\.1:$bport[;>]/, 'CDR: its To is the AOR fay dialled, not gus\'s contact');

# 8. b2bua: the caller cancels
$ph{fay}->forget_events;
$ph{fay}->dial("sip:gus\@$B");
$in = ev('gus', qr/^CALL_INCOMING$/);
ok($in, 'b2bua: gus rings');
my $rg = ev('fay', qr/^CALL_RINGING$/);
my $cl_cid = $rg ? $rg->{id} : '';
$ph{fay}->hangup;
ok(ev('fay', qr/^CALL_CLOSED$/), 'fay cancels');
ok(ev('gus', qr/^CALL_CLOSED$/), 'gus stops ringing (the CANCEL crossed)');
($ra) = cdr_of('cdr-b2bua.jsonl', $cl_cid);
($rb) = cdr_of('cdr-b2bua.jsonl', $in ? $in->{id} : '');
is($ra && "$ra->{final_status} $ra->{reason}", '487 call-canceled', 'CDR: A leg 487, call-canceled');
is($rb && "$rb->{final_status} $rb->{reason}", '487 call-canceled', 'CDR: B leg 487, call-canceled');

# 9. TLS: a phone registered over TLS is called
{
    $ph{bob}->dial("sip:carol\@$P");
    $in = ev('carol', qr/^CALL_INCOMING$/, 8);
    ok($in, 'proxy: carol (TLS) is called by bob');
    $ph{carol}->answer if $in;
    ok($in && ev('bob', qr/^CALL_ESTABLISHED$/, 5), 'and answers');
    $ph{bob}->hangup;
    ev('bob', qr/^CALL_CLOSED$/, 5);
}

# 10. phones with an outbound proxy (a Route naming sipchain)
{
    $ph{olga}->dial("sip:alice\@$P");
    $in = ev('alice', qr/^CALL_INCOMING$/, 8);
    ok($in, 'proxy: olga (outbound proxy) calls alice');
    $ph{alice}->answer if $in;
    ok($in && ev('olga', qr/^CALL_ESTABLISHED$/, 5), 'established');
    $ph{olga}->hangup;
    ev('olga', qr/^CALL_CLOSED$/, 5);
}
{   # the b2bua takes the call whatever the Route says
    $ph{hal}->dial("sip:gus\@$B");
    $in = ev('gus', qr/^CALL_INCOMING$/, 8);
    ok($in, 'b2bua: hal (outbound proxy) calls gus');
    is($in && $in->{peeruri}, "sip:hal\@$realm", 'gus sees hal\'s AOR');
    $ph{gus}->answer if $in;
    my $he = ev('hal', qr/^CALL_ESTABLISHED$/, 5);
    ok($in && $he, 'established');
    sleep 0.3;
    $ph{hal}->hangup;
    ok(ev('gus', qr/^CALL_CLOSED$/, 5), 'hal hangs up: gus sees it');
    my ($rh) = cdr_of('cdr-b2bua.jsonl', $he ? $he->{id} : '');
    is($rh && "$rh->{final_status} $rh->{reason} $rh->{user}", '200 normal-release hal', 'CDR: hal\'s call');
}

# 11. the long rings: answered 45 s after they began
my $left = $ring_t0 + 45 - time;
sleep $left if $left > 0;
{
    $ph{ringa}->pump(0);
    ok(!grep({ $_->{type} eq 'CALL_CLOSED' } @{ $ph{ringa}{seen} // [] }), 'proxy: still ringing after 45 s');
    $ph{ringb}->answer;
    my $re = ev('ringa', qr/^CALL_(ESTABLISHED|CLOSED)$/);
    is($re && $re->{type}, 'CALL_ESTABLISHED', 'proxy: answered after 45 s, established');
    my $rcid = $re ? $re->{id} : '';
    $ph{ringa}->hangup;
    ev('ringb', qr/^CALL_CLOSED$/, 5);
    ($r) = cdr_of('cdr-proxy.jsonl', $rcid);
    is($r && "$r->{final_status} $r->{reason}", '200 normal-release', 'CDR: the long-ringing call, answered');
    $ph{ringc}->pump(0);
    ok(!grep({ $_->{type} eq 'CALL_CLOSED' } @{ $ph{ringc}{seen} // [] }), 'b2bua: still ringing after 45 s');
    $ph{ringd}->answer;
    $re = ev('ringc', qr/^CALL_(ESTABLISHED|CLOSED)$/, 5);
    is($re && $re->{type}, 'CALL_ESTABLISHED', 'b2bua: answered after 45 s, established');
    $ph{ringc}->hangup;
    ev('ringd', qr/^CALL_CLOSED$/, 5);
}

$_->stop for values %ph;
is(stop_server($ppid), 0, 'proxy server stopped cleanly');
is(stop_server($bpid), 0, 'b2bua server stopped cleanly');
done_testing();
