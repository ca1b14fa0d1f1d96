_base_ = ['./models/vit14_finetune.py', './schedules/finetune_40k.py']
