import MixLNModel
