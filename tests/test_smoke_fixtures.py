def test_city_deployed(city, w3):
    assert city.coin.functions.decimals().call() == 0
    assert city.coin.functions.registry().call() == city.registry.address
