package fixture.parse_error_test

test_unclosed if {
	x := [1, 2
}
