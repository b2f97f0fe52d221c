# cdr-writer: records only for real calls, each with its role, and one
# correlation key for both legs of a B2BUA call.  Raw peers A (caller)
# and B (callee) on loopback, through digest-auth + proxy (record-routed)
# and through the b2bua module:
#   - a BYE of a dialog nobody knows: 481, no record;
#   - a BYE with a live call's Call-ID but other tags, from the caller's
#     side or the callee's: 481, the call's record neither written early
#     nor twice (the call's own BYE, either way round, ends it);
#   - an INVITE challenged (407) then retried with credentials (same
#     Call-ID, RFC 3261 §22.2): one record, the call's; a challenge never
#     retried: none;
#   - roles: proxy-uas (answered or rejected downstream), uas (answered
#     here), b2bua-uas / b2bua-uac (A and B legs, answered or rejected),
#     with A's Call-ID as both legs' correlation.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use Socket qw(pack_sockaddr_in inet_aton);
use JSON::PP;
use Digest::MD5 qw(md5_hex);
use SipTest;

my $mods = module_dir();
my $dir = tmpdir();
my $users = write_file('users.yaml', "alice: { ha1: \"" . md5_hex('alice:example.com:pw') . "\" }\n");
my ($as, $asp) = udp_peer();        # A, the caller
my ($bs, $bsp) = udp_peer();        # B, the callee

# a step of a flow that the assertions rest on (not an assertion itself)
sub need { my ($ok, $what) = @_; return $ok if $ok; die "the flow broke: $what\n" }

sub records {
    my ($file) = @_;
    open my $fh, '<', $file or return ();
    return map { decode_json($_) } grep { /\S/ } <$fh>;
}
sub of { my ($file, $cid) = @_; return grep { $_->{call_id} eq $cid } records($file) }
# the records of a file, once it has n of them (bounded wait: the writer
# is a thread of its own)
sub settle { my ($file, $n) = @_; my $end = time + 2; my @r;
    while (1) { @r = records($file); return @r if @r >= $n || time > $end; sleep 0.05 } }

my $sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9000 RTP/AVP 0\r\n";
my $nbr = 0;
sub req {
    my ($method, %o) = @_;
    $nbr++;
    my $body = $o{body} // '';
    return "$method $o{ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$asp;branch=" . ($o{branch} // "z9hG4bK-c$nbr") . ";rport\r\n"
         . "Max-Forwards: 70\r\nTo: $o{to}\r\nFrom: $o{from}\r\nCall-ID: $o{cid}\r\nCSeq: $o{cseq}\r\n"
         . "Contact: <sip:alice\@127.0.0.1:$asp>\r\n" . join('', map { "$_\r\n" } @{ $o{headers} // [] })
         . ($body ne '' ? "Content-Type: application/sdp\r\n" : '')
         . "Content-Length: " . length($body) . "\r\n\r\n$body";
}
# B's answer to request r (To tag added unless r has one)
sub reply {
    my ($r, $status, $tag) = @_;
    my $out = "SIP/2.0 $status\r\n";
    $out .= "$1\r\n" while $r =~ /^((?:Via|Record-Route|From|Call-ID|CSeq): [^\r]*)\r$/mg;
    my $t = sip_header($r, 'To');
    $t .= ";tag=$tag" if $tag && $t !~ /tag=/;
    my $body = $status =~ /^200/ && $r =~ /^INVITE/ ? $sdp : '';
    $out .= "To: $t\r\nContact: <sip:bob\@127.0.0.1:$bsp>\r\n" . ($body ne '' ? "Content-Type: application/sdp\r\n" : '')
          . "Content-Length: " . length($body) . "\r\n\r\n$body";
    my ($host, $port) = sip_header($r, 'Via') =~ /^SIP\/2\.0\/UDP ([\d.]+):(\d+)/;
    $bs->send($out, 0, pack_sockaddr_in($port, inet_aton($host)));
}
# A's next final answer of that CSeq (provisional ones skipped), or undef
sub final_a { my ($cseq, $secs) = @_; my $end = time + ($secs // 3);
    while ((my $l = $end - time) > 0) { my $r = recv_msg($as, $l) // return undef;
        return $r if $r =~ /^SIP\/2\.0 [2-6]/ && sip_header($r, 'CSeq') eq $cseq } return undef }

# --- 1. digest-auth + proxy (record-routed) -----------------------------------
my $port = free_port();
my $to = pack_sockaddr_in($port, inet_aton('127.0.0.1'));
my $cdrs = "$dir/proxy.jsonl";
my ($pid, undef, $log) = start_server(port => $port, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$port" ]
  log: { level: info }
  timers: { t1: 100, t2: 400, t4: 500 }
modules_path: $mods
chain:
  - module: cdr-writer
    file: $cdrs
  - module: digest-auth
    realm: example.com
    users: $users
    methods: [ INVITE ]
    challenge: proxy
  - module: proxy
    record_route: true
    routes:
      - domain: example.com
        targets: [ "sip:127.0.0.1:$bsp" ]
Y

# An INVITE from A to bob@example.com, challenged (401 or 407, ACKed) and sent
# again with credentials (same Call-ID, CSeq 2); B's copy of it, or undef.
my $nc = 0;
sub call_with_auth {
    my ($cid) = @_;
    my %c = (ruri => 'sip:bob@example.com', to => '<sip:bob@example.com>', from => "<sip:alice\@example.com>;tag=a-$cid", cid => $cid);
    my $inv = req('INVITE', %c, cseq => '1 INVITE', body => $sdp);
    $as->send($inv, 0, $to);
    my $ch = final_a('1 INVITE') // return undef;
    $as->send(non2xx_ack($inv, $ch), 0, $to);
    my $hdr = { 401 => 'Authorization', 407 => 'Proxy-Authorization' }->{sip_status($ch)} // return undef;
    my ($nonce, $opaque) = $ch =~ /nonce="([^"]+)", opaque="([^"]+)", algorithm=MD5/;
    my $n = sprintf('%08x', ++$nc);
    my $resp = md5_hex(md5_hex('alice:example.com:pw') . ":$nonce:$n:c$cid:auth:" . md5_hex('INVITE:sip:bob@example.com'));
    my $auth = "$hdr: Digest username=\"alice\", realm=\"example.com\", nonce=\"$nonce\", uri=\"sip:bob\@example.com\", "
             . "response=\"$resp\", algorithm=MD5, qop=auth, nc=$n, cnonce=\"c$cid\"" . ($opaque ? ", opaque=\"$opaque\"" : '');
    $as->send(req('INVITE', %c, cseq => '2 INVITE', body => $sdp, headers => [ $auth ]), 0, $to);
    return recv_request($bs, 'INVITE');
}
# B answers 200; A gets it; returns (A's 200, the BYE A would send)
sub answer {
    my ($binv, $cid) = @_;
    reply($binv, '200 OK', "b-$cid");
    my $ok = final_a('2 INVITE');
    my @rr = reverse(($ok // '') =~ /^Record-Route: ([^\r]*)\r$/mg);
    my %in = (ruri => "sip:bob\@127.0.0.1:$bsp", to => "<sip:bob\@example.com>;tag=b-$cid",
              from => "<sip:alice\@example.com>;tag=a-$cid", cid => $cid, headers => [ map { "Route: $_" } @rr ]);
    return ($ok, \%in);
}
# A's BYE in dialog %in (To tag replaced by totag when given): B's copy
# answered status, A's answer's status
sub bye {
    my ($in, $cseq, $status, $totag) = @_;
    my %d = %$in;
    $d{to} =~ s/tag=.*/tag=$totag/ if $totag;
    $as->send(req('BYE', %d, cseq => "$cseq BYE"), 0, $to);
    my $b = recv_request($bs, 'BYE');
    reply($b, $status) if $b;
    return sip_status(final_a("$cseq BYE"));
}

# 1a. challenged, then the call: one record
my $binv = need(call_with_auth('auth-1'), 'the retried INVITE (credentials) reaches B');
my ($ok, $in) = answer($binv, 'auth-1');
need(sip_status($ok) eq '200', 'A gets B\'s 200');
need(bye($in, 3, '200 OK') eq '200', 'A\'s BYE through the proxy answered 200');
my @r = grep { $_->{call_id} eq 'auth-1' } settle($cdrs, 1);
is(scalar @r, 1, 'challenged then authenticated: one record for the call (not a rejected call plus a call)');
is(join(' ', map { "$_->{final_status} $_->{reason} " . ($_->{role} // "none") . " " . ($_->{user} // '-') } @r), '200 normal-release proxy-uas alice',
   'that record: the call (200, normal-release, proxy-uas, the authenticated user)');

# 1b. a challenge never retried: no record
{
    my $inv = req('INVITE', ruri => 'sip:bob@example.com', to => '<sip:bob@example.com>', from => '<sip:alice@example.com>;tag=a-ch',
                  cid => 'challenge-only', cseq => '1 INVITE');
    $as->send($inv, 0, $to);
    my $ch = final_a('1 INVITE');
    $as->send(non2xx_ack($inv, $ch), 0, $to) if $ch;
    sleep 0.3;
    is(sip_status($ch) . ' ' . scalar(of($cdrs, 'challenge-only')), '407 0', 'a 407 never retried: no record (a challenge is not a call)');
}

# 1c. a BYE of a dialog nobody knows, through the proxy: B says 481, no record
{
    my %ghost = (ruri => "sip:bob\@127.0.0.1:$bsp", to => '<sip:bob@example.com>;tag=nobody', from => '<sip:alice@example.com>;tag=ghost',
                 cid => 'ghost-1');
    my $st = bye(\%ghost, 1, '481 Call/Transaction Does Not Exist');
    sleep 0.3;
    is("$st " . scalar(of($cdrs, 'ghost-1')), '481 0', 'a BYE for an unknown dialog: 481, no record');
}

# 1d. a BYE with a live call's Call-ID, other tags: the call goes on
$binv = need(call_with_auth('live-1'), 'a second call reaches B');
($ok, $in) = answer($binv, 'live-1');
need(sip_status($ok) eq '200', 'a second call answered');
my $st = bye($in, 3, '481 Call/Transaction Does Not Exist', 'forged');
sleep 0.3;
is("$st " . scalar(of($cdrs, 'live-1')), '481 0', 'a BYE with a live call\'s Call-ID but another To tag: 481, and it ended nothing (no record yet)');
need(bye($in, 4, '200 OK') eq '200', 'the call\'s own BYE answered');
@r = grep { $_->{call_id} eq 'live-1' } settle($cdrs, 2);
is(join(',', map { "$_->{final_status} $_->{reason}" } @r), '200 normal-release', 'then one record, normal-release');

# 1e. the callee hangs up (tags the other way round): a BYE from B with
# A's tag forged first (481, ends nothing), then B's own
$binv = need(call_with_auth('back-1'), 'a call from A reaches B');
($ok, $in) = answer($binv, 'back-1');
need(sip_status($ok) eq '200', 'answered');
my ($rr) = $binv =~ /^Record-Route: <([^>]+)>/m;
sub bye_from_b {
    my ($cseq, $atag, $status) = @_;
    $bs->send("BYE sip:alice\@127.0.0.1:$asp SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$bsp;branch=z9hG4bK-bb$cseq;rport\r\n"
            . "Route: <$rr>\r\nMax-Forwards: 70\r\nFrom: <sip:bob\@example.com>;tag=b-back-1\r\n"
            . "To: <sip:alice\@example.com>;tag=$atag\r\nCall-ID: back-1\r\nCSeq: $cseq BYE\r\nContent-Length: 0\r\n\r\n", 0, $to);
    my $b = recv_request($as, 'BYE') // return 'none';
    my $out = "SIP/2.0 $status\r\n";
    $out .= "$1\r\n" while $b =~ /^((?:Via|From|To|Call-ID|CSeq): [^\r]*)\r$/mg;
    $as->send("${out}Content-Length: 0\r\n\r\n", 0, $to);
    my $end = time + 3;
    while ((my $l = $end - time) > 0) { my $r = recv_msg($bs, $l) // last; return sip_status($r) if $r =~ /^SIP\/2\.0 [2-6]/ }
    return 'none';
}
$st = bye_from_b(1, 'forged', '481 Call/Transaction Does Not Exist');
sleep 0.3;
is("$st " . scalar(of($cdrs, 'back-1')), '481 0', 'a BYE from the callee\'s side with another From-side tag: 481, no record');
need(bye_from_b(2, 'a-back-1', '200 OK') eq '200', 'the callee\'s own BYE answered');
@r = grep { $_->{call_id} eq 'back-1' } settle($cdrs, 3);
is(join(',', map { "$_->{final_status} $_->{reason} " . ($_->{role} // 'none') } @r), '200 normal-release proxy-uas',
   'then one record: the callee hung up, tags the other way round');

# 1f. rejected downstream (486): proxy-uas all the same
$binv = need(call_with_auth('busy-1'), 'a third call reaches B');
reply($binv, '486 Busy Here', 'b-busy');
my $busy = final_a('2 INVITE');
$as->send(non2xx_ack(req('INVITE', ruri => 'sip:bob@example.com', to => '<sip:bob@example.com>', from => '<sip:alice@example.com>;tag=a-busy-1',
                      cid => 'busy-1', cseq => '2 INVITE'), $busy), 0, $to) if $busy;
@r = grep { $_->{call_id} eq 'busy-1' } settle($cdrs, 4);
is(join(',', map { "$_->{final_status} $_->{reason} " . ($_->{role} // 'none') } @r), '486 call-rejected proxy-uas',
   'a call rejected downstream: one record, with its role (proxy-uas)');
is(scalar(grep { !defined $_->{role} || $_->{role} eq '' } records($cdrs)), 0, 'every record has its role');
is(scalar(grep { ($_->{correlation} // '') ne $_->{call_id} } records($cdrs)), 0, 'a proxied call\'s correlation is its Call-ID');
need(stop_server($pid) == 0, 'the proxy server stops cleanly');
is(scalar(records($cdrs)), 4, 'four calls, four records (nothing for challenges or stray BYEs, nothing left open)');

# --- 2. the b2bua module --------------------------------------------------------
$port = free_port();
$to = pack_sockaddr_in($port, inet_aton('127.0.0.1'));
$cdrs = "$dir/b2bua.jsonl";
($pid, undef, $log) = start_server(port => $port, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$port" ]
  log: { level: info }
  timers: { t1: 100, t2: 400, t4: 500 }
modules_path: $mods
chain:
  - module: cdr-writer
    file: $cdrs
  - module: b2bua
    methods: [ INVITE ]
    target: "sip:bob\@127.0.0.1:$bsp"
Y

# 2a. answered, BYE from A
my %call = (ruri => "sip:bob\@127.0.0.1:$port", to => '<sip:bob@example.com>', from => '<sip:alice@example.com>;tag=a-b2b', cid => 'b2b-1');
$as->send(req('INVITE', %call, cseq => '1 INVITE', body => $sdp), 0, $to);
$binv = need(recv_request($bs, 'INVITE'), 'B gets an INVITE');
my $bcid = sip_header($binv, 'Call-ID');
need($bcid ne 'b2b-1', 'with a Call-ID of its own');
reply($binv, '200 OK', 'b-b2b');
my $aok = final_a('1 INVITE');
need(sip_status($aok) eq '200', 'A gets the 200');
my ($atag) = ($aok // '') =~ /^To: [^\r]*tag=([\w-]+)/m;
my ($actc) = ($aok // '') =~ /^Contact: <([^>]+)>/m;
my %ad = (%call, ruri => $actc // $call{ruri}, to => "<sip:bob\@example.com>;tag=" . ($atag // ''));
$as->send(req('ACK', %ad, cseq => '1 ACK'), 0, $to);
recv_request($bs, 'ACK');
$as->send(req('BYE', %ad, cseq => '2 BYE'), 0, $to);
my $bbye = need(recv_request($bs, 'BYE'), 'B gets the BYE');
reply($bbye, '200 OK');
need(sip_status(final_a('2 BYE')) eq '200', 'A\'s BYE answered');
@r = settle($cdrs, 2);
my ($ra) = grep { $_->{call_id} eq 'b2b-1' } @r;
my ($rb) = grep { $_->{call_id} eq $bcid } @r;
is(join(', ', map { $_ ? ($_->{role} // 'none') . " $_->{final_status} $_->{reason}" : 'missing' } $ra, $rb),
   'b2bua-uas 200 normal-release, b2bua-uac 200 normal-release', 'two records, both answered and hung up: A leg b2bua-uas, B leg b2bua-uac');
is(join(' ', map { $_ ? $_->{correlation} // 'none' : 'missing' } $ra, $rb), 'b2b-1 b2b-1', 'both with A\'s Call-ID as correlation key');

# 2b. rejected by B (486): two records all the same, roles and key
%call = (%call, from => '<sip:alice@example.com>;tag=a-b2b2', cid => 'b2b-2');
my $inv = req('INVITE', %call, cseq => '1 INVITE', body => $sdp);
$as->send($inv, 0, $to);
$binv = need(recv_request($bs, 'INVITE'), 'B gets the second INVITE');
$bcid = sip_header($binv, 'Call-ID');
reply($binv, '486 Busy Here', 'b-b2b2');
my $ab = final_a('1 INVITE');
$as->send(non2xx_ack($inv, $ab), 0, $to) if $ab;
@r = settle($cdrs, 4);
($ra) = grep { $_->{call_id} eq 'b2b-2' } @r;
($rb) = grep { $_->{call_id} eq $bcid } @r;
is(join(' ', map { $_ ? ($_->{role} // 'none') . ' ' . ($_->{correlation} // 'none') . " $_->{final_status}" : 'missing' } $ra, $rb),
   'b2bua-uas b2b-2 486 b2bua-uac b2b-2 486', 'a call B rejected: both legs recorded with their roles and A\'s Call-ID');
need(stop_server($pid) == 0, 'the b2bua server stops cleanly');
is(join(' ', sort map { ($_->{correlation} // 'none') . ':' . ($_->{role} // 'none') } records($cdrs)),
   'b2b-1:b2bua-uac b2b-1:b2bua-uas b2b-2:b2bua-uac b2b-2:b2bua-uas', 'in all: per call, one record per leg, tied by one key');

done_testing();
