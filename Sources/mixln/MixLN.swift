import MixLNTrain
