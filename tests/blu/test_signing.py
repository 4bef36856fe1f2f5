from calls.blu.signing import sign, signed_headers


def test_sign_matches_the_contract_example():
    assert (
        sign("10001", "yourAppKey", "1626856869046")
        == "243cab633c3d122da9254501b51cae2318f54f1b86984e1a51a835543127723c"
    )


def test_headers_carry_a_13_digit_timestamp_and_its_sign_but_never_the_key():
    headers = signed_headers("10001", "yourAppKey")
    assert len(headers["timeStamp"]) == 13 and headers["timeStamp"].isdigit()
    assert headers["sign"] == sign("10001", "yourAppKey", headers["timeStamp"])
    assert "yourAppKey" not in "".join(headers.values())
    assert headers["Content-Type"] == "application/json"
