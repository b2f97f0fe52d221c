# The registrar module end to end (RFC 3261 §10.3, RFC 3327 Path, RFC 5626
# outbound): bindings added, refreshed, listed with their time left and a
# Date, removed one by one and with "*"; expiry from the param or the
# header, 423 + Min-Expires, the cap at max_expires; Call-ID/CSeq order;
# the contact cap (refuse, replace_oldest); Path kept and echoed; flows
# replaced by instance and reg-id; expiry by timer; the location service
# (best q first, the source each phone registered from); other domains
# passed on; a restart loses nothing (persist), a torn log line is
# survived; config errors name file:line:col.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use SipTest;

my $mods = module_dir();
my $dir = tmpdir();
my $store = "$dir/bindings.log";

sub conf {
    my ($port, $extra) = @_;
    return "server:\n  listen: [ \"udp:127.0.0.1:$port\" ]\n  log: { level: debug }\n"
         . "modules_path: $mods\nchain:\n"
         . "  - module: registrar\n    methods: [ REGISTER ]\n    domains: [ example.com, Example.NET ]\n"
         . "    min_expires: 2\n    max_expires: 3600\n    default_expires: 600\n$extra"
         . "  - module: t_locate\n    methods: [ MESSAGE ]\n";
}
my $port = free_port();
my ($pid, undef, $log) = start_server(port => $port, yaml => conf($port, "    max_contacts: 3\n    persist: $store\n"));
my $c = udp_client();
my $me = $c->sockport;
my $n = 0;

sub req {
    my (%o) = @_;
    my $method = $o{method} // 'REGISTER';
    my $user = $o{user} // 'alice';
    my $dom = $o{domain} // 'example.com';
    my $m = "$method sip:" . ($method eq 'MESSAGE' ? "$user\@" : '') . "$dom SIP/2.0\r\n"
          . "Via: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-r" . ++$n . ";rport\r\n"
          . "Max-Forwards: 70\r\nTo: <sip:$user\@" . ($o{to_domain} // $dom) . ">\r\n"
          . "From: <sip:$user\@$dom>;tag=f$n\r\nCall-ID: " . ($o{cid} // "reg-$user") . "\r\n"
          . "CSeq: " . ($o{cseq} // $n) . " $method\r\n"
          . join('', map { "Contact: $_\r\n" } @{ $o{contacts} // [] })
          . join('', map { "$_\r\n" } @{ $o{headers} // [] })
          . "Content-Length: 0\r\n\r\n";
    my $r = send_recv($c, $port, $m, 3);
    $r = recv_msg($c, 3) while defined $r && $r =~ m{^SIP/2\.0 1};
    return $r // '';
}
sub status { my ($r) = @_; return $r =~ m{^SIP/2\.0 (\d{3} [^\r]*)} ? $1 : 'none' }
sub hdrs { my ($r, $h) = @_; return ($r =~ /^$h: ([^\r]*)\r$/mg) }
sub slurp { local (@ARGV, $/) = $_[0]; return scalar(<>) // '' }

# 1. add: expiry from the param, else Expires; the 200 lists each binding
my $r = req(contacts => [ '<sip:alice@10.0.0.1:5060>;q=0.5', '<sip:alice@10.0.0.2:5070>;expires=120' ],
            headers => [ 'Expires: 300' ]);
is(status($r), '200 OK', 'REGISTER with two contacts: 200');
my %exp = map { /<([^>]+)>;expires=(\d+)/ ? ($1 => $2) : () } hdrs($r, 'Contact');
ok($exp{'sip:alice@10.0.0.1:5060'} >= 299 && $exp{'sip:alice@10.0.0.1:5060'} <= 300, 'Expires header applies where the contact has no param');
ok($exp{'sip:alice@10.0.0.2:5070'} >= 119 && $exp{'sip:alice@10.0.0.2:5070'} <= 120, 'the expires param wins over the header');
like($r, qr/^Contact: <sip:alice\@10\.0\.0\.1:5060>;expires=\d+;q=0\.500\r$/m, 'q kept and shown');
like((hdrs($r, 'Date'))[0] // '', qr/^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$/, 'a Date header (RFC 1123)');

# a query: no Contact lists the bindings; the AOR is canonical (host case)
$r = req(domain => 'EXAMPLE.com');
is(scalar(() = hdrs($r, 'Contact')), 2, 'a query (no Contact) lists both bindings; the host compared without case');

# the location service: best q first, where each phone registered from
$r = req(method => 'MESSAGE');
my @loc = hdrs($r, 'X-Loc');
like($loc[0] // '', qr{^sip:alice\@10\.0\.0\.2:5070\|-\|udp:127\.0\.0\.1:$me\|1000\|}, 'lookup: q 1.0 (no q) first, with the source address it registered from');
like($loc[1] // '', qr{^sip:alice\@10\.0\.0\.1:5060\|-\|udp:127\.0\.0\.1:$me\|500\|}, 'then q 0.5');
is(status(req(method => 'MESSAGE', user => 'nobody')), '404 Not Found (no binding)', 'lookup of an AOR without bindings: none');

# 2. refresh and remove one; Call-ID/CSeq order
$r = req(contacts => [ '<sip:alice@10.0.0.2:5070>;expires=60' ]);
%exp = map { /<([^>]+)>;expires=(\d+)/ ? ($1 => $2) : () } hdrs($r, 'Contact');
ok($exp{'sip:alice@10.0.0.2:5070'} <= 60, 'refresh: the new expiry');
is(status(req(contacts => [ '<sip:alice@10.0.0.2:5070>' ], cseq => 1)), '400 Bad Request (CSeq not above the binding\'s for this Call-ID)',
   'same Call-ID, CSeq not higher: refused');
$r = req(contacts => [ '<sip:alice@10.0.0.2:5070>;expires=0' ]);
is(scalar(() = hdrs($r, 'Contact')), 1, 'expires=0 removes that one binding');
is(status(req(contacts => [ '<sip:alice@10.0.0.9>' ], headers => [ 'Expires: 1' ])), '423 Interval Too Brief', 'below min_expires: 423');
$r = req(contacts => [ '<sip:alice@10.0.0.9>' ], headers => [ 'Expires: 1' ]);
is((hdrs($r, 'Min-Expires'))[0], '2', 'with Min-Expires');
$r = req(contacts => [ '<sip:alice@10.0.0.3>;expires=999999' ]);
%exp = map { /<([^>]+)>;expires=(\d+)/ ? ($1 => $2) : () } hdrs($r, 'Contact');
ok($exp{'sip:alice@10.0.0.3'} <= 3600 && $exp{'sip:alice@10.0.0.3'} > 3500, 'capped at max_expires');
is(status(req(contacts => [ '<sip:alice@10.0.0.4>', '<sip:alice@10.0.0.5>' ])),
   '403 Forbidden (at most 3 contacts per address-of-record)', 'past max_contacts: refused');
is(scalar(() = hdrs(req(), 'Contact')), 2, 'and nothing of it applied');

# 3. "*"
is(status(req(contacts => [ '*' ], headers => [ 'Expires: 30' ])), '400 Bad Request (Contact: * needs Expires: 0)',
   '"*" with an expiry: 400');
$r = req(contacts => [ '*' ], headers => [ 'Expires: 0' ]);
is(status($r), '200 OK', '"*" with Expires: 0');
is(scalar(() = hdrs($r, 'Contact')), 0, 'removes every binding');

# 4. domains: R-URI not ours passes on; To not ours is 404
# (past the last link the core answers; t_locate only takes MESSAGE)
is(status(req(domain => 'elsewhere.org')), '404 Not Found', 'a REGISTER for another domain passes on (the end-of-chain answer)');
is(status(req(to_domain => 'other.org', contacts => [ '<sip:x@1.2.3.4>' ])), '404 Not Found (not a domain of this registrar)',
   'To in a domain we do not serve: 404');

# 5. Path (RFC 3327): stored, echoed when supported, given to lookups
$r = req(user => 'bob', contacts => [ '<sip:bob@192.0.2.7:5062>' ],
         headers => [ 'Path: <sip:edge1.example.com;lr>', 'Path: <sip:edge2.example.com;lr>', 'Supported: path' ]);
is((hdrs($r, 'Path'))[0], '<sip:edge1.example.com;lr>, <sip:edge2.example.com;lr>', 'Path echoed in the 200');
like((hdrs(req(method => 'MESSAGE', user => 'bob'), 'X-Loc'))[0] // '', qr{\|<sip:edge1\.example\.com;lr>, <sip:edge2\.example\.com;lr>\|},
     'and the lookup carries it');

# 6. outbound (RFC 5626): the same instance and reg-id is one flow
my $inst = '+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"';
req(user => 'carol', cid => 'o1', contacts => [ "<sip:carol\@198.51.100.1:5060;ob>;$inst;reg-id=1" ]);
$r = req(user => 'carol', cid => 'o2', contacts => [ "<sip:carol\@198.51.100.1:6000;ob>;$inst;reg-id=1" ],
         headers => [ 'Supported: outbound, path' ]);
my @cc = hdrs($r, 'Contact');
is(scalar @cc, 1, 'a new registration of the same flow replaces the old (another URI, another Call-ID)');
like($cc[0] // '', qr{^<sip:carol\@198\.51\.100\.1:6000;ob>;expires=\d+;\+sip\.instance="<urn:uuid:[^"]+>";reg-id=1$}, 'the new one, with instance and reg-id');
is((hdrs($r, 'Require'))[0], 'outbound', 'Require: outbound when the UA supports it');

# 7. expiry by timer
req(user => 'dave', contacts => [ '<sip:dave@10.1.1.1>;expires=2' ]);
is(status(req(method => 'MESSAGE', user => 'dave')), '200 OK', 'a binding for 2 s');
sleep 3.2;
is(status(req(method => 'MESSAGE', user => 'dave')), '404 Not Found (no binding)', 'gone after it expired');
is(scalar(() = hdrs(req(user => 'dave'), 'Contact')), 0, 'and from the registrar\'s answer');

# 8. restart: nothing lost (persist), a torn line survived
is(stop_server($pid), 0, 'stopped');
open my $fh, '>>', $store or die;
print $fh "+ sip:torn\@example.com sip:torn\@1.1.1.1 999";     # a crash mid-write
close $fh;
($pid, undef, $log) = start_server(port => $port, yaml => conf($port, "    max_contacts: 3\n    persist: $store\n"));
like(slurp($log), qr/restored from/, 'the log replayed');
like(slurp($log), qr/torn last line/, 'the torn line ignored with a warning');
@loc = hdrs(req(method => 'MESSAGE', user => 'bob'), 'X-Loc');
like($loc[0] // '', qr{^sip:bob\@192\.0\.2\.7:5062\|<sip:edge1\.example\.com;lr>, <sip:edge2\.example\.com;lr>\|udp:127\.0\.0\.1:$me\|}, 'bob\'s binding survived the restart, Path and source too');
is(scalar(hdrs(req(method => 'MESSAGE', user => 'carol'), 'X-Loc')), 1, 'carol\'s flow too');
is(status(req(method => 'MESSAGE', user => 'alice')), '404 Not Found (no binding)', 'what was removed stays removed');
is(stop_server($pid), 0, 'stopped');

# 9. replace_oldest
my $p2 = free_port();
($pid) = start_server(port => $p2, yaml => conf($p2, "    max_contacts: 2\n    when_full: replace_oldest\n"));
$port = $p2;
req(user => 'erin', contacts => [ '<sip:erin@10.2.0.1>' ]);
req(user => 'erin', contacts => [ '<sip:erin@10.2.0.2>' ]);
$r = req(user => 'erin', contacts => [ '<sip:erin@10.2.0.3>' ]);
my @e = sort map { /<([^>]+)>/ } hdrs($r, 'Contact');
is("@e", 'sip:erin@10.2.0.2 sip:erin@10.2.0.3', 'replace_oldest: the oldest binding made room');
is(stop_server($pid), 0, 'stopped');

# 10. config errors name the place
my $bad = write_file('reg-bad.yaml', "server:\n  listen: [ \"udp:127.0.0.1:$port\" ]\nmodules_path: $mods\nchain:\n"
                     . "  - module: registrar\n    min_expires: 10\n");
my $out = `${\ sipchain()} -t -c $bad 2>&1`;
like($out, qr{reg-bad\.yaml:5:5: registrar needs "domains"}, 'no domains: file:line:col and what is missing');
$bad = write_file('reg-bad2.yaml', "server:\n  listen: [ \"udp:127.0.0.1:$port\" ]\nmodules_path: $mods\nchain:\n"
                  . "  - module: registrar\n    domains: [ a.org ]\n    when_full: drop\n");
like(`${\ sipchain()} -t -c $bad 2>&1`, qr{reg-bad2\.yaml:7:16: when_full is "refuse" or "replace_oldest", not "drop"}, 'a bad when_full');

done_testing();
