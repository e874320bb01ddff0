#!/usr/bin/perl
# Writes MaxMind DB files with random networks for the attribution tests, using MaxMind's own
# writer (Debian: libmaxmind-db-writer-perl), so the reader under test is checked against files
# it did not produce. Usage: make_test_mmdb.pl OUT_DIR SEED
#   OUT_DIR/country-v6.mmdb  IPv6 tree, IPv4 aliased (::ffff:0:0/96, 2002::/16), record size 28,
#                            records with country.iso_code, only registered_country.iso_code,
#                            only country_code (ip-location-db style) or no country at all
#   OUT_DIR/asn-v6.mmdb      IPv6 tree, record size 32, autonomous_system_number/_organization,
#                            including 32-bit private AS numbers
#   OUT_DIR/country-v4.mmdb  IPv4 tree, record size 24
#   OUT_DIR/networks.txt     every inserted network, one per line (for address sampling)
use strict;
use warnings;
use MaxMind::DB::Writer::Tree;

my ($out_dir, $seed) = @ARGV;
die "usage: $0 OUT_DIR SEED\n" unless defined $seed;
srand($seed);

my %types = (
    country                        => 'map',
    registered_country             => 'map',
    continent                      => 'map',
    iso_code                       => 'utf8_string',
    code                           => 'utf8_string',
    country_code                   => 'utf8_string',
    autonomous_system_number       => 'uint32',
    autonomous_system_organization => 'utf8_string',
);

sub new_tree {
    my ($ip_version, $record_size, $type) = @_;
    return MaxMind::DB::Writer::Tree->new(
        ip_version               => $ip_version,
        record_size              => $record_size,
        database_type            => $type,
        languages                => ['en'],
        description              => { en => "darkscope test database $type" },
        map_key_type_callback    => sub { $types{ $_[0] } },
        alias_ipv6_to_ipv4       => ($ip_version == 6 ? 1 : 0),
        remove_reserved_networks => 0,
    );
}

my @codes = qw(JP US CN TH ID DE FR GB BR IN RU KR VN NL SG AU CA IT ES PL TW HK MX AR ZA
               NG EG TR IR UA SE NO FI DK CH AT BE PT IE NZ);

sub random_ipv4 {
    my $depth = 8 + int(rand(25));
    my $addr = int(rand(2**32));
    my $mask = $depth == 0 ? 0 : (0xffffffff << (32 - $depth)) & 0xffffffff;
    $addr &= $mask;
    my $text = join('.', ($addr >> 24) & 255, ($addr >> 16) & 255, ($addr >> 8) & 255, $addr & 255);
    return "$text/$depth";
}

sub random_ipv6 {
    my $depth = rand() < 0.9 ? 16 + int(rand(49)) : 65 + int(rand(64));
    my @groups;
    while (1) {
        @groups = map { int(rand(65536)) } 1 .. 8;
        # Mostly global unicast, where real data is; some anywhere else.
        $groups[0] = 0x2000 | ($groups[0] & 0x0fff) if rand() < 0.8;
        last unless $groups[0] == 0x2002 || $groups[0] == 0;    # aliased or IPv4 space
    }
    for my $g (0 .. 7) {
        my $keep = $depth - 16 * $g;
        if ($keep <= 0) { $groups[$g] = 0; }
        elsif ($keep < 16) { $groups[$g] &= (0xffff << (16 - $keep)) & 0xffff; }
    }
    return join(':', map { sprintf('%x', $_) } @groups) . "/$depth";
}

sub country_record {
    my $code = $codes[int(rand(@codes))];
    my $other = $codes[int(rand(@codes))];
    my $shape = rand();
    return { country => { iso_code => $code }, registered_country => { iso_code => $other } }
        if $shape < 0.5;
    return { country => { iso_code => $code } } if $shape < 0.7;
    return { registered_country => { iso_code => $code } } if $shape < 0.8;
    return { country_code => $code } if $shape < 0.95;
    return { continent => { code => 'EU' } };    # a network with no country
}

sub asn_record {
    my $asn = rand() < 0.05 ? 4200000000 + int(rand(94967294)) : 1 + int(rand(400000));
    return { autonomous_system_organization => "Org $asn, Inc." } if rand() < 0.03;
    return { autonomous_system_number => $asn, autonomous_system_organization => "Org $asn, Inc." };
}

my @v4 = map { random_ipv4() } 1 .. 30000;
my @v6 = map { random_ipv6() } 1 .. 8000;

open my $list, '>', "$out_dir/networks.txt" or die "$out_dir/networks.txt: $!\n";
print $list "$_\n" for @v4, @v6;
close $list;

my %trees = (
    'country-v6.mmdb' => [ new_tree(6, 28, 'Darkscope-Test-Country'), \&country_record, 1 ],
    'asn-v6.mmdb'     => [ new_tree(6, 32, 'Darkscope-Test-ASN'),     \&asn_record,     1 ],
    'country-v4.mmdb' => [ new_tree(4, 24, 'Darkscope-Test-Country'), \&country_record, 0 ],
);
for my $name (sort keys %trees) {
    my ($tree, $record, $with_v6) = @{ $trees{$name} };
    $tree->insert_network($_, $record->()) for @v4;
    if ($with_v6) {
        $tree->insert_network($_, $record->()) for @v6;
    }
    open my $fh, '>:raw', "$out_dir/$name" or die "$out_dir/$name: $!\n";
    $tree->write_tree($fh);
    close $fh;
}
